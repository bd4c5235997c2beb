// The PostgreSQL event store: queue, writer thread with group commit, COPY, key table.
#include "store/postgres/pg_event_store.hpp"

#include <algorithm>
#include <array>
#include <unordered_set>
#include <variant>

#include "events/parse.hpp"
#include "store/event_columns.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/postgres/pg_schema.hpp"
#include "text/iso8601.hpp"

namespace sgs::store::pg {

namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

// A 128-bit key as PostgreSQL's uuid text (8-4-4-4-12 hex digits), appended to `out`.
void append_uuid(std::string& out, const events::dedup_key& k) {
  static constexpr char digits[] = "0123456789abcdef";
  char buf[36];
  std::size_t at = 0;
  for (int nibble = 0; nibble < 32; ++nibble) {
    if (nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20) buf[at++] = '-';
    const std::uint64_t half = nibble < 16 ? k.high : k.low;
    buf[at++] = digits[(half >> (60 - 4 * (nibble % 16))) & 0xf];
  }
  out.append(buf, sizeof buf);
}

// The key of uuid text as PostgreSQL returns it; nullopt for anything else.
std::optional<events::dedup_key> parse_uuid(std::string_view text) {
  events::dedup_key k;
  int nibble = 0;
  for (const char c : text) {
    if (c == '-') continue;
    int v = 0;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    if (nibble >= 32) return std::nullopt;
    std::uint64_t& half = nibble < 16 ? k.high : k.low;
    half = (half << 4) | static_cast<std::uint64_t>(v);
    ++nibble;
  }
  if (nibble != 32) return std::nullopt;
  return k;
}

// The keys are hashes already: their low half is a good hash.
struct key_hash {
  std::size_t operator()(const events::dedup_key& k) const noexcept {
    return static_cast<std::size_t>(k.low);
  }
};
using key_set = std::unordered_set<events::dedup_key, key_hash>;

int hex4(std::string_view s, std::size_t at) {
  if (at + 4 > s.size()) return -1;
  int v = 0;
  for (std::size_t i = at; i < at + 4; ++i) {
    const char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v |= c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v |= c - 'A' + 10;
    } else {
      return -1;
    }
  }
  return v;
}

// True when jsonb would refuse this (valid) JSON text: \u0000, or a \u escape of an unpaired
// UTF-16 surrogate (the parser keeps both inside custom args, raw).
bool jsonb_refuses(std::string_view json) {
  for (std::size_t i = json.find('\\'); i != std::string_view::npos; i = json.find('\\', i)) {
    if (i + 1 >= json.size()) return false;
    if (json[i + 1] != 'u') {
      i += 2;
      continue;
    }
    const int code = hex4(json, i + 2);
    if (code == 0) return true;
    if (code >= 0xDC00 && code <= 0xDFFF) return true;  // a low half without its high half
    if (code >= 0xD800 && code <= 0xDBFF) {
      const bool paired = i + 11 < json.size() && json[i + 6] == '\\' && json[i + 7] == 'u' &&
                          hex4(json, i + 8) >= 0xDC00 && hex4(json, i + 8) <= 0xDFFF;
      if (!paired) return true;
      i += 12;
      continue;
    }
    i += 6;
  }
  return false;
}

bool is_json_column(std::string_view name) {
  return name == "category" || name == "custom_args" || name == "raw" || name == "newsletter";
}

// Why PostgreSQL could not hold this event as a row ("" when it can): text columns cannot
// hold NUL, jsonb columns refuse \u0000 and unpaired surrogates. Such an event is kept raw in
// rejected_events (text) with this reason, never dropped.
std::string unstorable(const events::event& e) {
  std::string why;
  auto check_text = [&](std::string_view name, std::string_view v) {
    if (!why.empty()) return;
    if (is_json_column(name)) {
      if (jsonb_refuses(v))
        why = "`" + std::string(name) +
              "` holds \\u0000 or an unpaired surrogate, which jsonb "
              "cannot store";
    } else if (v.find('\0') != std::string_view::npos) {
      why = "`" + std::string(name) + "` holds a NUL character, which PostgreSQL text cannot store";
    }
  };
  for (const event_column& c : event_columns) {
    std::visit(overloaded{[&](std::optional<std::string_view> events::event::*f) {
                            if (e.*f) check_text(c.name, *(e.*f));
                          },
                          [&](std::optional<std::int64_t> events::event::*) {},
                          [&](std::string events::event::*f) { check_text(c.name, e.*f); },
                          [&](std::optional<std::string> events::event::*f) {
                            if (e.*f) check_text(c.name, *(e.*f));
                          },
                          [&](std::string_view events::event::*f) { check_text(c.name, e.*f); },
                          [&](received_at_column) {}, [&](segment_column) {}},
               c.field);
  }
  if (why.empty() && e.event_name.find('\0') != std::string_view::npos)
    why = "`event` holds a NUL character";
  return why;
}

// One row of an event table in COPY text format, columns in the order of event_columns.
void append_row(std::string& out, const events::event& e, std::string_view received_at) {
  if (e.kind == events::event_type::other) {
    copy_text(out, e.event_name);
    out += '\t';
  }
  bool first = true;
  for (const event_column& c : event_columns) {
    if (!first) out += '\t';
    first = false;
    std::visit(overloaded{[&](std::optional<std::string_view> events::event::*f) {
                            if (e.*f) {
                              copy_text(out, *(e.*f));
                            } else {
                              copy_null(out);
                            }
                          },
                          [&](std::optional<std::int64_t> events::event::*f) {
                            if (e.*f) {
                              out += std::to_string(*(e.*f));
                            } else {
                              copy_null(out);
                            }
                          },
                          [&](std::string events::event::*f) { copy_text(out, e.*f); },
                          [&](std::optional<std::string> events::event::*f) {
                            if (e.*f) {
                              copy_text(out, *(e.*f));
                            } else {
                              copy_null(out);
                            }
                          },
                          [&](std::string_view events::event::*f) { copy_text(out, e.*f); },
                          [&](received_at_column) { out += received_at; },
                          // SQLite's index segments; PostgreSQL partitions by time instead.
                          [&](segment_column) { out += '0'; }},
               c.field);
  }
  out += '\n';
}

// After a unique violation of a plain key INSERT, this many groups insert their keys with
// ON CONFLICT at once: SendGrid's retries arrive in runs (after an outage of ours or a slow
// answer), and a failed attempt costs the work done until the violation.
constexpr int on_conflict_groups_after_violation = 64;

void release_if_large(std::string& s) {
  if (s.capacity() > 4 * 1024 * 1024) std::string().swap(s);
}

void append_rejected(std::string& out, std::string_view reason, std::string_view raw,
                     std::string_view received_at) {
  copy_text(out, reason);
  out += '\t';
  copy_text(out, raw);
  out += '\t';
  out += received_at;
  out += '\n';
}

}  // namespace

struct pg_event_store::pending {
  events::parsed_batch batch;
  std::string received_at;  // ISO-8601 UTC
  std::chrono::system_clock::time_point received_at_time;
  write_callback done;
  std::size_t events = 0;
};

pg_event_store::pg_event_store(const pg_event_store_options& options) : options_(options) {}

std::unique_ptr<pg_event_store> pg_event_store::open(const pg_event_store_options& options) {
  std::unique_ptr<pg_event_store> store(new pg_event_store(options));
  std::string error;
  if (!store->connect(error)) throw store_error(error);
  store->writer_ = std::thread([s = store.get()] { s->writer_loop(); });
  return store;
}

pg_event_store::~pg_event_store() { close(); }

std::string pg_event_store::location() const {
  return redact(options_.conninfo) + " schema " + quote_ident(options_.schema);
}

std::string pg_event_store::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void pg_event_store::submit(events::parsed_batch batch,
                            std::chrono::system_clock::time_point received_at,
                            write_callback done) {
  const std::size_t n = batch.events.size() + batch.rejected.size();
  {
    std::unique_lock lock(mutex_);
    write_result refused;
    if (closing_) {
      refused.status = write_result::outcome::closed;
    } else if (queued_events_ > 0 && queued_events_ + n > options_.max_queued_events) {
      refused.status = write_result::outcome::overloaded;
    } else {
      queue_.push_back(pending{std::move(batch), text::iso8601_utc(received_at), received_at,
                               std::move(done), n});
      queued_events_ += n;
      counters_.queued_events.store(queued_events_);
      lock.unlock();
      wake_.notify_one();
      return;
    }
    lock.unlock();
    done(refused);
  }
}

void pg_event_store::close() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  conn_.reset();
}

bool pg_event_store::connect(std::string& error) {
  try {
    conn_ = std::make_unique<connection>(options_.conninfo, options_.schema);
    backoff_ = std::chrono::milliseconds(0);
    upkeep();
    return true;
  } catch (const pg_error& e) {
    conn_.reset();
    error = e.what();
    backoff_ = backoff_.count() == 0 ? options_.reconnect_initial
                                     : std::min(backoff_ * 2, options_.reconnect_max);
    next_connect_ = std::chrono::steady_clock::now() + backoff_;
    return false;
  }
}

void pg_event_store::upkeep() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_upkeep_) return;
  next_upkeep_ = now + options_.upkeep_interval;
  // Partitions ahead, retention, and keys older than the dedup window. Several receivers may
  // do this at once: the partition work is under an advisory lock and the DELETE is harmless.
  maintain_partitions(*conn_, options_.schema, std::chrono::system_clock::now(),
                      options_.partition_months_ahead, options_.retention_days);
  conn_->exec("DELETE FROM event_keys WHERE seen_at < now() - make_interval(hours => $1::int)",
              {std::to_string(options_.dedup_window.count())}, "cannot expire old dedup keys");
}

void pg_event_store::fail_group(std::vector<pending>& group, const std::string& error) {
  {
    std::lock_guard lock(mutex_);
    last_error_ = error;
  }
  counters_.last_commit_failed.store(true);
  counters_.failed_commits.fetch_add(1);
  write_result r;
  r.status = write_result::outcome::failed;
  r.error = error;
  for (auto& p : group) p.done(r);
}

void pg_event_store::writer_loop() {
  for (;;) {
    std::vector<pending> group;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing, and everything submitted was answered
      std::size_t events = 0;
      while (!queue_.empty() &&
             (group.empty() || events + queue_.front().events <= options_.max_group_events)) {
        events += queue_.front().events;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_events_ -= events;
      counters_.queued_events.store(queued_events_);
    }
    if (!conn_ || !conn_->ok()) {
      conn_.reset();
      std::string error;
      if (std::chrono::steady_clock::now() < next_connect_) {
        fail_group(group, "PostgreSQL is unreachable (retrying): " + last_error());
        continue;
      }
      if (!connect(error)) {
        fail_group(group, error);
        continue;
      }
    }
    try {
      upkeep();
    } catch (const pg_error&) {
      // Upkeep is retried at the next interval; it never fails a write.
    }
    write_group(group);
  }
}

void pg_event_store::write_group(std::vector<pending>& group) {
  const auto started = std::chrono::steady_clock::now();
  // The keys of every event that PostgreSQL can hold, in order. An event whose key an earlier
  // event of the group claimed is a duplicate within the group, decided here; the keys of the
  // others go to event_keys once each, in key order (receivers lock keys in one order, which
  // keeps deadlocks between them rare; they are retried anyway), and the database decides
  // which of them are new. Measured (docs/SCALE.md): sorting and DISTINCT in SQL cost
  // PostgreSQL ~15 % of the key insert; here they cost a hash set and a sort of 16-byte keys.
  struct event_ref {
    events::dedup_key fingerprint;
    std::optional<events::dedup_key> id;
    bool claimed_earlier = false;  // a key of an earlier event of the group
    std::string unstorable;
  };
  std::vector<std::vector<event_ref>> refs(group.size());
  std::vector<events::dedup_key>& sorted_keys = buffers_.sorted_keys;
  sorted_keys.clear();
  {
    key_set claimed;
    for (std::size_t b = 0; b < group.size(); ++b) {
      refs[b].reserve(group[b].batch.events.size());
      for (const auto& e : group[b].batch.events) {
        event_ref ref;
        ref.unstorable = unstorable(e);
        if (ref.unstorable.empty()) {
          ref.fingerprint = events::fingerprint_key(e);
          ref.id = events::event_id_key(e);
          ref.claimed_earlier =
              claimed.count(ref.fingerprint) != 0 || (ref.id && claimed.count(*ref.id) != 0);
          if (!ref.claimed_earlier) {
            claimed.insert(ref.fingerprint);
            sorted_keys.push_back(ref.fingerprint);
            // An sg_event_id hash equal to the fingerprint (never, in practice) is one key.
            if (ref.id && claimed.insert(*ref.id).second) sorted_keys.push_back(*ref.id);
          }
        }
        refs[b].push_back(std::move(ref));
      }
    }
  }
  std::sort(sorted_keys.begin(), sorted_keys.end(), [](const auto& a, const auto& b) {
    return a.high != b.high ? a.high < b.high : a.low < b.low;  // uuid order: bytes, big-endian
  });
  std::string& keys = buffers_.keys;
  keys.assign(1, '{');
  for (const auto& k : sorted_keys) {
    if (keys.size() > 1) keys += ',';
    append_uuid(keys, k);
  }
  keys += '}';

  std::vector<write_result> results(group.size());
  std::array<std::uint64_t, events::event_type_count> stored{};
  std::array<std::uint64_t, events::event_type_count> duplicates{};
  std::uint64_t rejected_total = 0;
  std::string error;
  const bool keys_on_conflict = on_conflict_groups_left_ > 0;
  if (keys_on_conflict) --on_conflict_groups_left_;
  // A deadlock or serialization failure against another receiver's group: run it again.
  for (int attempt = 0;; ++attempt) {
    stored.fill(0);
    duplicates.fill(0);
    rejected_total = 0;
    for (auto& r : results) r = write_result{};
    const bool plain_insert = attempt == 0 && !keys_on_conflict;
    try {
      transaction tx(*conn_);
      key_set fresh;
      bool all_fresh = false;
      if (sorted_keys.empty()) {
        // No key to insert.
      } else if (plain_insert) {
        // One statement, the keys (distinct, in key order) as one uuid[] parameter.
        conn_->exec("INSERT INTO event_keys (k) SELECT unnest($1::uuid[])", {keys},
                    "cannot insert dedup keys");
        all_fresh = true;
      } else {
        auto r = conn_->exec(
            "INSERT INTO event_keys (k) SELECT k FROM unnest($1::uuid[]) AS k "
            "ON CONFLICT DO NOTHING RETURNING k",
            {keys}, "cannot insert dedup keys");
        fresh.reserve(static_cast<std::size_t>(r.rows()));
        for (int i = 0; i < r.rows(); ++i) {
          if (auto k = parse_uuid(r.text(i, 0))) fresh.insert(*k);
        }
      }
      auto& rows = buffers_.rows;
      for (auto& r : rows) r.clear();
      std::string& rejected_rows = buffers_.rejected_rows;
      rejected_rows.clear();
      for (std::size_t b = 0; b < group.size(); ++b) {
        auto& p = group[b];
        auto& res = results[b];
        for (std::size_t i = 0; i < p.batch.events.size(); ++i) {
          const auto& e = p.batch.events[i];
          const auto& ref = refs[b][i];
          const auto type = static_cast<std::size_t>(e.kind);
          if (!ref.unstorable.empty()) {
            append_rejected(rejected_rows, "element " + std::to_string(i) + ": " + ref.unstorable,
                            e.raw, p.received_at);
            ++res.rejected;
            continue;
          }
          const bool is_new =
              !ref.claimed_earlier && (all_fresh || (fresh.count(ref.fingerprint) != 0 &&
                                                     (!ref.id || fresh.count(*ref.id) != 0)));
          if (!is_new) {
            ++res.duplicates;
            ++duplicates[type];
            continue;
          }
          append_row(rows[type], e, p.received_at);
          ++res.stored;
          ++stored[type];
        }
        for (const auto& rej : p.batch.rejected) {
          append_rejected(rejected_rows, rej.reason, rej.raw, p.received_at);
          ++res.rejected;
        }
        rejected_total += res.rejected;
      }
      const std::string columns = event_column_list();
      for (auto t : events::all_event_types) {
        const auto& data = rows[static_cast<std::size_t>(t)];
        if (data.empty()) continue;
        const std::string table(events::table_name(t));
        conn_->copy_in("COPY " + table + " (" + (t == events::event_type::other ? "event, " : "") +
                           columns + ") FROM STDIN",
                       data, "cannot copy events into " + table);
      }
      if (!rejected_rows.empty()) {
        conn_->copy_in("COPY rejected_events (reason, raw, received_at) FROM STDIN", rejected_rows,
                       "cannot copy rejected elements");
      }
      tx.commit();
      error.clear();
      break;
    } catch (const pg_error& e) {
      error = e.what();
      if (e.connection_bad()) {
        conn_.reset();
        next_connect_ = std::chrono::steady_clock::now();  // try at once for the next group
        break;
      }
      if (plain_insert && e.sqlstate() == "23505") {
        // A key was there already: this group and the next ones with ON CONFLICT.
        on_conflict_groups_left_ = on_conflict_groups_after_violation;
        continue;
      }
      if (!e.retryable() || attempt >= 4) break;
    }
  }
  for (auto& r : buffers_.rows) release_if_large(r);
  release_if_large(buffers_.rejected_rows);
  release_if_large(buffers_.keys);
  if (sorted_keys.capacity() > 256 * 1024) std::vector<events::dedup_key>().swap(sorted_keys);
  if (!error.empty()) {
    fail_group(group, error);
    return;
  }

  counters_.commits.fetch_add(1);
  counters_.commit_latency.observe(std::chrono::steady_clock::now() - started);
  counters_.last_commit_failed.store(false);
  for (std::size_t t = 0; t < events::event_type_count; ++t) {
    if (stored[t]) counters_.stored[t].fetch_add(stored[t]);
    if (duplicates[t]) counters_.duplicates[t].fetch_add(duplicates[t]);
  }
  counters_.rejected.fetch_add(rejected_total);
  const auto newest = std::chrono::duration_cast<std::chrono::milliseconds>(
                          group.back().received_at_time.time_since_epoch())
                          .count();
  if (newest > counters_.last_event_unix_ms.load()) counters_.last_event_unix_ms.store(newest);
  {
    std::lock_guard lock(mutex_);
    last_error_.clear();
  }
  for (std::size_t b = 0; b < group.size(); ++b) {
    results[b].status = write_result::outcome::committed;
    group[b].done(results[b]);
  }
}

}  // namespace sgs::store::pg
