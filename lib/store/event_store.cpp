// Event store: migrations at open, dedup index rebuild, the writer thread with group commit,
// and a checkpointer thread.
#include "store/event_store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "store/migrations.hpp"

namespace sgs::store {

using events::event;
using events::event_type;

namespace {

// The typed columns of every event table, in the order bind_event binds them.
constexpr const char* event_columns =
    "sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, "
    "status, response, attempt, type, bounce_classification, url, url_offset_index, "
    "url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, "
    "pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, "
    "marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, "
    "mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, "
    "sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, raw, "
    "received_at";
constexpr int event_column_count = 46;

// store_options::checkpoint_after_frames: the checkpointer thread runs a PASSIVE checkpoint once
// the WAL holds this many frames. store_options::restart_after_frames: passive checkpoints alone
// never let the WAL restart under sustained writes: by the time one has copied the frames it saw,
// the writer has appended more, so the log grows without bound (47 GB while filling a 10M-event
// store). Past that many frames the checkpointer runs a RESTART checkpoint instead: it waits for
// the writer's current transaction, copies the few frames the passive ones left, and makes the next
// transaction write the WAL from its start. The writer waits for it through its busy handler (1 ms
// steps: see writer_busy_handler).

// SQLite's busy_timeout sleeps in growing steps (up to 100 ms) and oversleeps a short RESTART
// checkpoint; the writer retries every millisecond instead, up to the configured timeout.
int writer_busy_handler(void* timeout_ms, int attempts) {
  if (attempts >= *static_cast<int*>(timeout_ms)) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return 1;
}

struct stmt_deleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_deleter>;

// Raised inside a write when SQLite reports an error; carries SQLite's message.
struct write_failure {
  std::string message;
};

void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw write_failure{std::string(what) + ": " + sqlite3_errmsg(db)};
  }
}

stmt_ptr prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    throw store_error("cannot prepare statement (" + std::string(sqlite3_errmsg(db)) + "): " + sql);
  }
  return stmt_ptr(s);
}

class binder {
 public:
  binder(sqlite3_stmt* s, int first) : s_(s), i_(first) {}
  void text(std::string_view v) {
    sqlite3_bind_text(s_, i_++, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void text(const std::optional<std::string_view>& v) {
    if (v) {
      text(*v);
    } else {
      sqlite3_bind_null(s_, i_++);
    }
  }
  void text(const std::optional<std::string>& v) {
    if (v) {
      text(std::string_view(*v));
    } else {
      sqlite3_bind_null(s_, i_++);
    }
  }
  void integer(const std::optional<std::int64_t>& v) {
    if (v) {
      sqlite3_bind_int64(s_, i_++, *v);
    } else {
      sqlite3_bind_null(s_, i_++);
    }
  }

 private:
  sqlite3_stmt* s_;
  int i_;
};

void bind_event(sqlite3_stmt* s, int first, const event& e, std::string_view received_at) {
  binder b(s, first);
  b.text(e.sg_event_id);
  b.text(e.sg_message_id);
  b.text(e.email);
  b.integer(e.timestamp);
  b.text(e.smtp_id);
  b.text(std::string_view(e.category));
  b.integer(e.asm_group_id);
  b.text(e.reason);
  b.text(e.status);
  b.text(e.response);
  b.integer(e.attempt);
  b.text(e.type);
  b.text(e.bounce_classification);
  b.text(e.url);
  b.integer(e.url_offset_index);
  b.text(e.url_offset_type);
  b.text(e.useragent);
  b.text(e.ip);
  b.integer(e.tls);
  b.integer(e.cert_err);
  b.integer(e.sg_machine_open);
  b.text(e.sg_content_type);
  b.text(e.pool_name);
  b.integer(e.pool_id);
  b.integer(e.marketing_campaign_id);
  b.text(e.marketing_campaign_name);
  b.text(e.marketing_campaign_version);
  b.integer(e.marketing_campaign_split_id);
  b.text(e.post_type);
  b.integer(e.sg_user_id);
  b.text(e.singlesend_id);
  b.text(e.singlesend_name);
  b.text(e.mc_stats);
  b.text(e.phase_id);
  b.integer(e.send_at);
  b.text(e.template_id);
  b.text(e.template_version_id);
  b.text(e.template_hash);
  b.text(e.sg_template_id);
  b.text(e.sg_template_name);
  b.text(e.domain);
  b.text(e.from);
  b.text(e.newsletter);
  b.text(std::string_view(e.custom_args));
  b.text(e.raw);
  b.text(received_at);
}

struct dedup_key_hash {
  std::size_t operator()(const events::dedup_key& k) const noexcept {
    return k.low ^ (k.high << 1);
  }
};

std::optional<std::string_view> column_text(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

std::optional<std::int64_t> column_int(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}

// The duplicate indexes stored with a pending body, as a sorted list.
std::vector<std::uint32_t> decode_indexes(const void* blob, int bytes) {
  std::vector<std::uint32_t> out;
  const auto* p = static_cast<const unsigned char*>(blob);
  for (int i = 0; i + 3 < bytes; i += 4) {
    out.push_back(static_cast<std::uint32_t>(p[i]) | static_cast<std::uint32_t>(p[i + 1]) << 8 |
                  static_cast<std::uint32_t>(p[i + 2]) << 16 |
                  static_cast<std::uint32_t>(p[i + 3]) << 24);
  }
  return out;
}

// Reads back what iso8601_utc wrote (to the second; the dedup generations are hours long).
std::chrono::system_clock::time_point parse_iso8601(std::string_view text) {
  std::tm tm{};
  std::sscanf(std::string(text).c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
              &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

struct event_store::pending {
  events::parsed_batch batch;
  std::chrono::system_clock::time_point received_at;
  std::string received_at_text;
  write_callback done;
  write_result result;
  std::vector<events::dedup_key> new_keys;  // added to the index after the commit
  std::string duplicate_indexes;            // uint32 LE indexes into batch.events
  std::array<std::uint32_t, events::event_type_count> stored_by_type{};
  std::array<std::uint32_t, events::event_type_count> duplicates_by_type{};
};

struct event_store::statements {
  std::array<stmt_ptr, events::event_type_count> insert_event;
  stmt_ptr insert_rejected;
  stmt_ptr insert_pending;
  stmt_ptr select_pending;
  stmt_ptr delete_pending;
  stmt_ptr begin;
  stmt_ptr commit;
  stmt_ptr rollback;
};

event_store::event_store(const store_options& options)
    : options_(options), dedup_(std::make_unique<dedup_index>(options.dedup_window)) {}

// SQLite's own locking is not needed: each connection is used by one thread. Memory
// statistics take a global mutex on every allocation (7% of ingest CPU in a profile).
void configure_sqlite_once() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

std::unique_ptr<event_store> event_store::open(const store_options& options) {
  configure_sqlite_once();
  std::unique_ptr<event_store> store(new event_store(options));
  try {
    std::error_code ec;
    if (options.file.has_parent_path())
      std::filesystem::create_directories(options.file.parent_path(), ec);
    if (ec) {
      throw store_error("cannot create directory " + options.file.parent_path().string() + ": " +
                        ec.message());
    }
    store->db_ = std::make_unique<SQLite::Database>(
        options.file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX);
    auto& db = *store->db_;
    store->busy_timeout_ms_ = static_cast<int>(options.busy_timeout.count());
    sqlite3_busy_handler(db.getHandle(), &writer_busy_handler, &store->busy_timeout_ms_);
    // 16 KiB pages: a quarter of the WAL frames (and write syscalls) per commit of the same
    // rows; +15% ingest at 1000-event POSTs (docs/DESIGN.md). Only takes effect on a new file.
    db.exec("PRAGMA page_size=16384");
    db.exec("PRAGMA journal_mode=WAL");
    db.exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    // The writer's own checkpoints would stall ingestion; the checkpointer thread does them.
    db.exec("PRAGMA wal_autocheckpoint=0");
    db.exec("PRAGMA cache_size=-32768");
    db.exec("PRAGMA temp_store=MEMORY");
    migrate(db);

    sqlite3* h = db.getHandle();
    auto st = std::make_unique<statements>();
    for (event_type t : events::all_event_types) {
      std::string sql = "INSERT INTO " + std::string(events::table_name(t)) + " (";
      if (t == event_type::other) sql += "event, ";
      sql += event_columns;
      sql += ") VALUES (";
      const int n = event_column_count + (t == event_type::other ? 1 : 0);
      for (int i = 0; i < n; ++i) sql += i ? ",?" : "?";
      sql += ")";
      st->insert_event[static_cast<std::size_t>(t)] = prepare(h, sql);
    }
    st->insert_rejected =
        prepare(h, "INSERT INTO rejected_events (reason, raw, received_at) VALUES (?,?,?)");
    st->insert_pending = prepare(
        h, "INSERT INTO pending_bodies (received_at, body, events, duplicates) VALUES (?,?,?,?)");
    st->select_pending = prepare(
        h, "SELECT id, received_at, body, duplicates, events FROM pending_bodies ORDER BY id");
    st->delete_pending = prepare(h, "DELETE FROM pending_bodies WHERE id <= ?");
    st->begin = prepare(h, "BEGIN IMMEDIATE");
    st->commit = prepare(h, "COMMIT");
    st->rollback = prepare(h, "ROLLBACK");
    store->statements_ = std::move(st);
    store->rebuild_dedup_index();
    store->recover_pending_bodies();
    sqlite3_wal_hook(h, &event_store::on_wal_commit, store.get());
  } catch (const SQLite::Exception& e) {
    throw store_error("cannot open event store " + options.file.string() + ": " + e.what());
  } catch (const migration_error& e) {
    throw store_error(e.what());
  }
  store->checkpointer_ = std::thread([s = store.get()] { s->checkpoint_loop(); });
  store->writer_ = std::thread([s = store.get()] { s->writer_loop(); });
  return store;
}

event_store::~event_store() { close(); }

void event_store::close() {
  {
    std::lock_guard lock(mutex_);
    if (closing_ && !writer_.joinable()) return;
    closing_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(checkpoint_mutex_);
    checkpoint_stop_ = true;
  }
  checkpoint_wake_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  if (db_) {
    // Fold the WAL back into the database so the file is complete on its own.
    sqlite3_wal_hook(db_->getHandle(), nullptr, nullptr);
    sqlite3_wal_checkpoint_v2(db_->getHandle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr,
                              nullptr);
  }
}

std::string event_store::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void event_store::rebuild_dedup_index() {
  // Rows arrive in rowid order, so the dedup window is the tail of each table: read it
  // backwards and stop at the first row older than the window.
  const auto now = std::chrono::system_clock::now();
  const std::string cutoff = iso8601_utc(now - options_.dedup_window);
  sqlite3* h = db_->getHandle();
  for (event_type t : events::all_event_types) {
    const bool other = t == event_type::other;
    std::string sql =
        std::string(
            "SELECT sg_event_id, sg_message_id, email, timestamp, url, url_offset_index, "
            "asm_group_id, reason, status, response, attempt, type, ip, useragent, "
            "received_at") +
        (other ? ", event" : "") + " FROM " + std::string(events::table_name(t)) +
        " ORDER BY rowid DESC";
    stmt_ptr s = prepare(h, sql);
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      auto received = column_text(s.get(), 14);
      if (!received || *received < cutoff) {
        rc = SQLITE_DONE;  // the rest of the table is older than the window
        break;
      }
      event e;
      e.kind = t;
      e.event_name = other ? column_text(s.get(), 15).value_or("") : events::wire_name(t);
      e.sg_event_id = column_text(s.get(), 0);
      e.sg_message_id = column_text(s.get(), 1);
      e.email = column_text(s.get(), 2);
      e.timestamp = column_int(s.get(), 3);
      e.url = column_text(s.get(), 4);
      e.url_offset_index = column_int(s.get(), 5);
      e.asm_group_id = column_int(s.get(), 6);
      e.reason = column_text(s.get(), 7);
      e.status = column_text(s.get(), 8);
      e.response = column_text(s.get(), 9);
      e.attempt = column_int(s.get(), 10);
      e.type = column_text(s.get(), 11);
      e.ip = column_text(s.get(), 12);
      e.useragent = column_text(s.get(), 13);
      // The row's own arrival time decides its generation, so it expires on time.
      const auto seen = parse_iso8601(*received);
      if (auto id = events::event_id_key(e)) dedup_->insert(*id, seen);
      dedup_->insert(events::fingerprint_key(e), seen);
    }
    if (rc != SQLITE_DONE) {
      throw store_error("cannot read " + std::string(events::table_name(t)) +
                        " to rebuild the dedup index: " + sqlite3_errmsg(h));
    }
  }
  dedup_size_ = dedup_->size();
  dedup_bytes_ = dedup_->memory_bytes();
}

void event_store::submit(events::parsed_batch batch,
                         std::chrono::system_clock::time_point received_at, write_callback done) {
  const std::size_t n = batch.events.size() + batch.rejected.size();
  {
    std::unique_lock lock(mutex_);
    if (closing_) {
      lock.unlock();
      done(write_result{write_result::outcome::closed, 0, 0, 0, "the store is shutting down"});
      return;
    }
    if (queued_events_ > 0 && queued_events_ + n > options_.max_queued_events) {
      lock.unlock();
      done(write_result{
          write_result::outcome::overloaded, 0, 0, 0,
          "the writer has " + std::to_string(options_.max_queued_events) + " events queued"});
      return;
    }
    pending p{std::move(batch),
              received_at,
              iso8601_utc(received_at),
              std::move(done),
              {},
              {},
              {},
              {},
              {}};
    queue_.push_back(std::move(p));
    queued_events_ += n;
    counters_.queued_events = queued_events_;
  }
  wake_.notify_one();
}

void event_store::writer_loop() {
  std::vector<pending> group;
  bool merge_failed = false;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      const auto has_work = [&] {
        return !queue_.empty() || closing_ ||
               (counters_.pending_events.load() > 0 && !merge_failed);
      };
      if (merge_failed) {
        // Back off after a failed merge (e.g. disk full); new requests still wake us.
        wake_.wait_for(lock, std::chrono::seconds(1), [&] { return !queue_.empty() || closing_; });
        merge_failed = false;
      } else {
        wake_.wait(lock, has_work);
        if (queue_.empty() && !closing_) {
          // Only pending bodies: merge once requests pause. Under steady load the queue is
          // empty for a moment between every two groups, and merging then would mean many
          // small merges, each paying the index writes that bulk merging exists to amortise.
          wake_.wait_for(lock, options_.merge_idle_delay,
                         [&] { return !queue_.empty() || closing_; });
        }
      }
      std::size_t events_in_group = 0;
      while (!queue_.empty() && (group.empty() || events_in_group < options_.max_group_events)) {
        events_in_group +=
            queue_.front().batch.events.size() + queue_.front().batch.rejected.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_events_ -= std::min(queued_events_, events_in_group);
      counters_.queued_events = queued_events_;
      if (group.empty() && closing_ && (counters_.pending_events.load() == 0)) return;
    }
    if (restart_pending_.load()) yield_to_checkpoint();
    if (!group.empty()) {
      write_group(group);
      group.clear();  // frees the bodies and parsed events: the database has them now
      if (counters_.pending_events.load() >= options_.merge_after_events) {
        merge_failed = !merge_pending(options_.merge_max_events);
      }
    } else if (counters_.pending_events.load() > 0) {
      // Nothing waits: move what is pending into the tables now.
      merge_failed = !merge_pending(options_.merge_max_events);
      bool give_up = false;
      {
        std::lock_guard lock(mutex_);
        give_up = merge_failed && closing_ && queue_.empty();
      }
      // At shutdown a failing merge leaves the bodies pending: the next start merges them.
      if (give_up) return;
    }
  }
}

void event_store::write_group(std::vector<pending>& group) {
  std::vector<pending*> all;
  all.reserve(group.size());
  for (auto& p : group) all.push_back(&p);
  // A group big enough to amortise index maintenance goes straight into the tables; a small
  // one is appended to pending_bodies, which is cheap to commit, and merged later in bulk.
  std::size_t events_in_group = 0;
  for (const auto& p : group) events_in_group += p.batch.events.size();
  const bool direct = events_in_group >= options_.direct_insert_events;
  std::string error;
  bool ok = try_write(all, direct, error);
  if (!ok && group.size() > 1) {
    // Retry each batch alone: a batch SQLite cannot take must not fail its neighbours.
    for (auto& p : group) {
      std::vector<pending*> one{&p};
      std::string one_error;
      if (!try_write(one, direct, one_error)) {
        p.result = write_result{write_result::outcome::failed, 0, 0, 0, one_error};
        error = one_error;
      }
    }
  } else if (!ok) {
    group.front().result = write_result{write_result::outcome::failed, 0, 0, 0, error};
  }
  {
    std::lock_guard lock(mutex_);
    if (!error.empty()) last_error_ = error;
  }
  for (auto& p : group) p.done(p.result);
}

void event_store::fail_transaction(const std::string& message) {
  sqlite3* h = db_->getHandle();
  statements& st = *statements_;
  for (auto& s : st.insert_event) sqlite3_reset(s.get());
  for (auto* s : {st.insert_rejected.get(), st.insert_pending.get(), st.select_pending.get(),
                  st.delete_pending.get(), st.begin.get(), st.commit.get()}) {
    sqlite3_reset(s);
  }
  if (!sqlite3_get_autocommit(h)) {
    sqlite3_step(st.rollback.get());
    sqlite3_reset(st.rollback.get());
  }
  counters_.failed_commits.fetch_add(1);
  counters_.last_commit_failed = true;
  std::lock_guard lock(mutex_);
  last_error_ = message;
}

bool event_store::try_write(const std::vector<pending*>& batch, bool direct, std::string& error) {
  sqlite3* h = db_->getHandle();
  statements& st = *statements_;
  // Sized once for the group's keys: rehashing on the writer thread is time the
  // commit of every waiting request pays for.
  std::unordered_set<events::dedup_key, dedup_key_hash> group_keys;
  std::size_t group_events = 0;
  for (const pending* p : batch) group_events += p->batch.events.size();
  group_keys.reserve(2 * group_events);
  std::uint64_t journaled_events = 0;
  const auto started = std::chrono::steady_clock::now();
  try {
    check(h, sqlite3_step(st.begin.get()), "BEGIN");
    sqlite3_reset(st.begin.get());
    for (pending* p : batch) {
      p->result = write_result{write_result::outcome::committed, 0, 0, 0, {}};
      p->new_keys.clear();
      p->duplicate_indexes.clear();
      p->stored_by_type.fill(0);
      p->duplicates_by_type.fill(0);
      for (std::size_t i = 0; i < p->batch.events.size(); ++i) {
        const event& e = p->batch.events[i];
        const auto type_index = static_cast<std::size_t>(e.kind);
        const std::optional<events::dedup_key> id = events::event_id_key(e);
        const events::dedup_key fp = events::fingerprint_key(e);
        const bool duplicate = (id && (dedup_->contains(*id) || group_keys.contains(*id))) ||
                               dedup_->contains(fp) || group_keys.contains(fp);
        if (duplicate) {
          const auto index = static_cast<std::uint32_t>(i);
          const char le[4] = {
              static_cast<char>(index & 0xff), static_cast<char>((index >> 8) & 0xff),
              static_cast<char>((index >> 16) & 0xff), static_cast<char>((index >> 24) & 0xff)};
          p->duplicate_indexes.append(le, 4);
          ++p->result.duplicates;
          ++p->duplicates_by_type[type_index];
          continue;
        }
        if (id) {
          group_keys.insert(*id);
          p->new_keys.push_back(*id);
        }
        group_keys.insert(fp);
        p->new_keys.push_back(fp);
        ++p->result.stored;
        ++p->stored_by_type[type_index];
      }
      p->result.rejected = p->batch.rejected.size();
      if (p->result.stored == 0 && p->result.rejected == 0) continue;  // nothing to keep
      if (direct) {
        insert_events(p->batch, p->duplicate_indexes, p->received_at_text);
        continue;
      }
      sqlite3_stmt* s = st.insert_pending.get();
      sqlite3_bind_text(s, 1, p->received_at_text.data(),
                        static_cast<int>(p->received_at_text.size()), SQLITE_STATIC);
      const std::string_view body = p->batch.body();
      sqlite3_bind_blob(s, 2, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(p->result.stored + p->result.rejected));
      if (p->duplicate_indexes.empty()) {
        sqlite3_bind_null(s, 4);
      } else {
        sqlite3_bind_blob(s, 4, p->duplicate_indexes.data(),
                          static_cast<int>(p->duplicate_indexes.size()), SQLITE_STATIC);
      }
      check(h, sqlite3_step(s), "INSERT pending body");
      sqlite3_reset(s);
      journaled_events += p->result.stored + p->result.rejected;
    }
    check(h, sqlite3_step(st.commit.get()), "COMMIT");
    sqlite3_reset(st.commit.get());
  } catch (const write_failure& f) {
    error = f.message;
    fail_transaction(f.message);
    return false;
  }
  // Durable now: only from here on do the keys count as seen.
  std::int64_t newest_ms = 0;
  for (pending* p : batch) {
    for (const auto& k : p->new_keys) dedup_->insert(k, p->received_at);
    for (std::size_t i = 0; i < events::event_type_count; ++i) {
      if (p->stored_by_type[i]) counters_.stored[i].fetch_add(p->stored_by_type[i]);
      if (p->duplicates_by_type[i]) counters_.duplicates[i].fetch_add(p->duplicates_by_type[i]);
    }
    if (p->result.rejected) counters_.rejected.fetch_add(p->result.rejected);
    if (p->result.stored) {
      newest_ms = std::max<std::int64_t>(
          newest_ms,
          std::chrono::duration_cast<std::chrono::milliseconds>(p->received_at.time_since_epoch())
              .count());
    }
  }
  if (journaled_events) counters_.pending_events.fetch_add(journaled_events);
  dedup_->expire(std::chrono::system_clock::now());
  dedup_size_ = dedup_->size();
  dedup_bytes_ = dedup_->memory_bytes();
  if (newest_ms > counters_.last_event_unix_ms.load()) counters_.last_event_unix_ms = newest_ms;
  counters_.commits.fetch_add(1);
  counters_.commit_latency.observe(std::chrono::steady_clock::now() - started);
  counters_.last_commit_failed = false;
  return true;
}

void event_store::insert_events(const events::parsed_batch& batch,
                                const std::string& duplicate_indexes,
                                std::string_view received_at) {
  sqlite3* h = db_->getHandle();
  statements& st = *statements_;
  const auto duplicates =
      decode_indexes(duplicate_indexes.data(), static_cast<int>(duplicate_indexes.size()));
  std::size_t next_duplicate = 0;
  for (std::size_t i = 0; i < batch.events.size(); ++i) {
    if (next_duplicate < duplicates.size() && duplicates[next_duplicate] == i) {
      ++next_duplicate;
      continue;
    }
    const event& e = batch.events[i];
    sqlite3_stmt* s = st.insert_event[static_cast<std::size_t>(e.kind)].get();
    int first = 1;
    if (e.kind == event_type::other) {
      sqlite3_bind_text(s, 1, e.event_name.data(), static_cast<int>(e.event_name.size()),
                        SQLITE_STATIC);
      first = 2;
    }
    bind_event(s, first, e, received_at);
    check(h, sqlite3_step(s), "INSERT event");
    sqlite3_reset(s);
  }
  for (const auto& r : batch.rejected) {
    sqlite3_stmt* s = st.insert_rejected.get();
    sqlite3_bind_text(s, 1, r.reason.data(), static_cast<int>(r.reason.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r.raw.data(), static_cast<int>(r.raw.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 3, received_at.data(), static_cast<int>(received_at.size()),
                      SQLITE_STATIC);
    check(h, sqlite3_step(s), "INSERT rejected event");
    sqlite3_reset(s);
  }
}

bool event_store::merge_pending(std::size_t max_events) {
  sqlite3* h = db_->getHandle();
  statements& st = *statements_;
  std::uint64_t moved_events = 0;
  try {
    check(h, sqlite3_step(st.begin.get()), "BEGIN");
    sqlite3_reset(st.begin.get());
    sqlite3_stmt* sel = st.select_pending.get();
    std::int64_t last_id = -1;
    int rc;
    while (moved_events < max_events && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
      last_id = sqlite3_column_int64(sel, 0);
      const auto received = column_text(sel, 1).value_or("");
      const auto* body = static_cast<const char*>(sqlite3_column_blob(sel, 2));
      const std::string_view body_view(body ? body : "",
                                       static_cast<std::size_t>(sqlite3_column_bytes(sel, 2)));
      const auto* dup_blob = static_cast<const char*>(sqlite3_column_blob(sel, 3));
      const std::string duplicates_blob(dup_blob ? dup_blob : "",
                                        static_cast<std::size_t>(sqlite3_column_bytes(sel, 3)));
      moved_events += static_cast<std::uint64_t>(sqlite3_column_int64(sel, 4));
      auto parsed = events::parse_batch(body_view);
      if (auto* err = std::get_if<events::batch_error>(&parsed)) {
        // It parsed when it arrived; if it no longer does, keep it rather than lose it.
        const std::string reason = "pending body no longer parses: " + err->message;
        sqlite3_stmt* s = st.insert_rejected.get();
        sqlite3_bind_text(s, 1, reason.data(), static_cast<int>(reason.size()), SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, body_view.data(), static_cast<int>(body_view.size()),
                          SQLITE_STATIC);
        sqlite3_bind_text(s, 3, received.data(), static_cast<int>(received.size()), SQLITE_STATIC);
        check(h, sqlite3_step(s), "INSERT rejected body");
        sqlite3_reset(s);
        continue;
      }
      insert_events(std::get<events::parsed_batch>(parsed), duplicates_blob, received);
    }
    sqlite3_reset(sel);
    if (last_id >= 0) {
      sqlite3_bind_int64(st.delete_pending.get(), 1, last_id);
      check(h, sqlite3_step(st.delete_pending.get()), "DELETE pending bodies");
      sqlite3_reset(st.delete_pending.get());
    }
    check(h, sqlite3_step(st.commit.get()), "COMMIT");
    sqlite3_reset(st.commit.get());
  } catch (const write_failure& f) {
    fail_transaction("moving pending bodies into the event tables failed: " + f.message);
    return false;
  }
  const auto pending = counters_.pending_events.load();
  counters_.pending_events = pending > moved_events ? pending - moved_events : 0;
  counters_.merges.fetch_add(1);
  return true;
}

void event_store::recover_pending_bodies() {
  // Bodies acknowledged before a stop or crash: their events count as seen (they were
  // acknowledged), and the writer merges them first thing.
  sqlite3_stmt* sel = statements_->select_pending.get();
  std::uint64_t pending_events = 0;
  int rc;
  while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
    const auto received = std::string(column_text(sel, 1).value_or(""));
    const auto* body = static_cast<const char*>(sqlite3_column_blob(sel, 2));
    const std::string_view body_view(body ? body : "",
                                     static_cast<std::size_t>(sqlite3_column_bytes(sel, 2)));
    const auto duplicates =
        decode_indexes(sqlite3_column_blob(sel, 3), sqlite3_column_bytes(sel, 3));
    pending_events += static_cast<std::uint64_t>(sqlite3_column_int64(sel, 4));
    auto parsed = events::parse_batch(body_view);
    if (auto* batch = std::get_if<events::parsed_batch>(&parsed)) {
      const auto seen = parse_iso8601(received);
      std::size_t next_duplicate = 0;
      for (std::size_t i = 0; i < batch->events.size(); ++i) {
        if (next_duplicate < duplicates.size() && duplicates[next_duplicate] == i) {
          ++next_duplicate;
          continue;
        }
        if (auto id = events::event_id_key(batch->events[i])) dedup_->insert(*id, seen);
        dedup_->insert(events::fingerprint_key(batch->events[i]), seen);
      }
    }
  }
  sqlite3_reset(sel);
  if (rc != SQLITE_DONE) {
    throw store_error("cannot read pending_bodies: " +
                      std::string(sqlite3_errmsg(db_->getHandle())));
  }
  counters_.pending_events = pending_events;
  dedup_size_ = dedup_->size();
  dedup_bytes_ = dedup_->memory_bytes();
}

int event_store::on_wal_commit(void* self, sqlite3*, const char*, int frames) {
  auto* me = static_cast<event_store*>(self);
  // Fewer frames than after the previous commit: the WAL started over from its beginning.
  if (frames < me->wal_frames_.exchange(frames)) me->counters_.wal_resets.fetch_add(1);
  if (frames >= static_cast<event_store*>(self)->options_.checkpoint_after_frames) {
    auto* store = static_cast<event_store*>(self);
    {
      std::lock_guard lock(store->checkpoint_mutex_);
      store->checkpoint_due_ = true;
    }
    store->checkpoint_wake_.notify_one();
  }
  return SQLITE_OK;
}

void event_store::yield_to_checkpoint() {
  // Bounded: a RESTART that cannot finish (a reader holds an old snapshot) must not stall
  // ingestion; the WAL then just grows until the reader is done.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
  while (restart_pending_.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

void event_store::checkpoint_loop() {
  std::unique_ptr<SQLite::Database> db;
  try {
    db = std::make_unique<SQLite::Database>(options_.file.string(),
                                            SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX);
    sqlite3_busy_handler(db->getHandle(), &writer_busy_handler, &busy_timeout_ms_);
    // A connection learns that the file is in WAL mode only when it first reads it; until
    // then sqlite3_wal_checkpoint_v2 silently does nothing.
    db->exec("PRAGMA journal_mode=WAL");
  } catch (const SQLite::Exception& e) {
    std::lock_guard lock(mutex_);
    last_error_ = std::string("checkpointer cannot open the database: ") + e.what();
    return;
  }
  for (;;) {
    {
      std::unique_lock lock(checkpoint_mutex_);
      checkpoint_wake_.wait(lock, [&] { return checkpoint_due_ || checkpoint_stop_; });
      if (checkpoint_stop_) return;
      checkpoint_due_ = false;
    }
    // PASSIVE never blocks the writer. When the WAL is long, RESTART (see restart_after_frames).
    const bool restart = wal_frames_.load() >= options_.restart_after_frames;
    // The writer starts its next transaction right after each commit; told that a RESTART is
    // waiting, it holds back (briefly) so the checkpoint can take its turn.
    if (restart) restart_pending_ = true;
    const int rc = sqlite3_wal_checkpoint_v2(
        db->getHandle(), nullptr, restart ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE,
        nullptr, nullptr);
    restart_pending_ = false;
    if (restart && rc == SQLITE_OK) {
      counters_.wal_restart_checkpoints.fetch_add(1);
    } else if (!restart && wal_frames_.load() >= options_.restart_after_frames) {
      std::lock_guard lock(checkpoint_mutex_);
      checkpoint_due_ = true;  // the log grew past the limit meanwhile: restart it next
    }
  }
}

}  // namespace sgs::store
