// Builds (or reuses) a store of N synthetic events through the real write path, then times
// the lookups SPEC §6 promises: all events of one email, of one sg_message_id (< 10 ms
// each), and counts per type per day over a month (< 2 s).
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "events/parse.hpp"
#include "store/sqlite_event_store.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::int64_t month_start = 1764547200;  // 2025-12-01T00:00:00Z
constexpr std::int64_t days = 30;
const char* const types[] = {"processed", "delivered", "open", "click", "deferred", "bounce"};

std::string email_of(std::uint64_t n) { return "user" + std::to_string(n) + "@example.com"; }
std::string message_of(std::uint64_t n) {
  return "msg" + std::to_string(n * 2654435761u % 1000000007u) + ".filter0001.0";
}

// Event i belongs to message i/4 (processed, delivered, open, click ...); messages go to
// emails at random, so an email has ~events/emails events spread over the month.
std::string batch_json(std::uint64_t first, std::uint64_t count, std::uint64_t total,
                       std::uint64_t emails) {
  std::string body = "[";
  for (std::uint64_t i = first; i < first + count; ++i) {
    const std::uint64_t message = i / 4;
    const std::uint64_t email = (message * 11400714819323198485ull >> 11) % emails;
    const std::int64_t ts = month_start + static_cast<std::int64_t>(
                                              i * static_cast<std::uint64_t>(days * 86400) / total);
    if (i != first) body += ",";
    body +=
        R"({"email":")" + email_of(email) + R"(","timestamp":)" + std::to_string(ts) +
        R"(,"event":")" + types[i % 4 == 3 && i % 7 == 0 ? 4 + i % 2 : i % 4] +
        R"(","sg_event_id":"ev)" + std::to_string(i) + R"(","sg_message_id":")" +
        message_of(message) +
        R"(","smtp-id":"<x@ismtpd>","category":["bench"],"useragent":"Mozilla/5.0","ip":"10.0.0.1","userid":")" +
        std::to_string(email) + R"("})";
  }
  return body + "]";
}

void fill(const std::filesystem::path& file, std::uint64_t total, std::uint64_t emails) {
  auto store = sgs::store::sqlite_event_store::open({.file = file});
  std::mutex m;
  std::condition_variable cv;
  std::uint64_t in_flight = 0;
  std::atomic<std::uint64_t> failed{0};
  const auto start = clock_type::now();
  constexpr std::uint64_t per_batch = 1000;
  for (std::uint64_t first = 0; first < total; first += per_batch) {
    auto parsed = sgs::events::parse_owned_batch(
        batch_json(first, std::min(per_batch, total - first), total, emails));
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return in_flight < 32; });
      ++in_flight;
    }
    store->submit(std::get<sgs::events::parsed_batch>(std::move(parsed)),
                  std::chrono::system_clock::now(), [&](const sgs::store::write_result& r) {
                    if (r.status != sgs::store::write_result::outcome::committed) ++failed;
                    std::lock_guard lock(m);
                    --in_flight;
                    cv.notify_all();
                  });
    if ((first / per_batch) % 1000 == 999) {
      const double s = std::chrono::duration<double>(clock_type::now() - start).count();
      std::fprintf(stderr, "\rfilled %llu events (%.0f/s)",
                   static_cast<unsigned long long>(first + per_batch),
                   static_cast<double>(first + per_batch) / s);
    }
  }
  store->close();
  std::fprintf(stderr, "\n");
  if (failed) {
    std::fprintf(stderr, "%llu batches failed\n", static_cast<unsigned long long>(failed.load()));
    std::exit(1);
  }
}

struct timing {
  double p50_ms, p99_ms, max_ms;
  std::int64_t rows;
};

timing time_lookups(SQLite::Database& db, const std::string& sql,
                    const std::vector<std::string>& keys) {
  std::vector<double> ms;
  std::int64_t rows = 0;
  SQLite::Statement q(db, sql);
  for (const auto& k : keys) {
    const auto t0 = clock_type::now();
    q.bind(1, k);
    while (q.executeStep()) ++rows;
    q.reset();
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back(), rows};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(
        stderr,
        "usage: query_bench DB_FILE [EVENTS=10000000] [EMAILS=1000000]\n"
        "  fills DB_FILE through the event store if it has fewer events, then times the lookups\n");
    return 2;
  }
  const std::filesystem::path file = argv[1];
  const std::uint64_t total = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 10'000'000;
  const std::uint64_t emails = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1'000'000;

  std::int64_t have = 0;
  if (std::filesystem::exists(file)) {
    SQLite::Database db(file.string(), SQLite::OPEN_READONLY);
    have = db.execAndGet("SELECT count(*) FROM activity").getInt64();
  }
  if (have < static_cast<std::int64_t>(total)) {
    std::filesystem::remove(file);
    const auto t0 = clock_type::now();
    fill(file, total, emails);
    std::printf("fill_events=%llu fill_seconds=%.1f\n", static_cast<unsigned long long>(total),
                std::chrono::duration<double>(clock_type::now() - t0).count());
  }

  SQLite::Database db(file.string(), SQLite::OPEN_READONLY);
  std::printf("events_in_store=%lld\n",
              static_cast<long long>(db.execAndGet("SELECT count(*) FROM activity").getInt64()));
  std::mt19937_64 rng(42);
  std::vector<std::string> email_keys, message_keys;
  for (int i = 0; i < 200; ++i) {
    email_keys.push_back(email_of(rng() % emails));
    message_keys.push_back(message_of(rng() % (total / 4)));
  }
  const auto by_email = time_lookups(
      db, "SELECT event, timestamp, sg_message_id FROM activity WHERE email = ? ORDER BY timestamp",
      email_keys);
  std::printf(
      "lookup_by_email: p50_ms=%.2f p99_ms=%.2f max_ms=%.2f rows=%lld (200 random emails)\n",
      by_email.p50_ms, by_email.p99_ms, by_email.max_ms, static_cast<long long>(by_email.rows));
  const auto by_message = time_lookups(
      db, "SELECT event, timestamp, email FROM activity WHERE sg_message_id = ? ORDER BY timestamp",
      message_keys);
  std::printf(
      "lookup_by_sg_message_id: p50_ms=%.2f p99_ms=%.2f max_ms=%.2f rows=%lld (200 random "
      "messages)\n",
      by_message.p50_ms, by_message.p99_ms, by_message.max_ms,
      static_cast<long long>(by_message.rows));

  const auto t0 = clock_type::now();
  SQLite::Statement counts(
      db,
      "SELECT event, date(timestamp, 'unixepoch') AS day, count(*) FROM activity "
      "WHERE timestamp >= ? AND timestamp < ? GROUP BY event, day ORDER BY day, event");
  counts.bind(1, static_cast<std::int64_t>(month_start));
  counts.bind(2, static_cast<std::int64_t>(month_start + days * 86400));
  std::int64_t groups = 0, counted = 0;
  while (counts.executeStep()) {
    ++groups;
    counted += counts.getColumn(2).getInt64();
  }
  std::printf("counts_per_type_per_day_month: ms=%.0f groups=%lld events_counted=%lld\n",
              std::chrono::duration<double, std::milli>(clock_type::now() - t0).count(),
              static_cast<long long>(groups), static_cast<long long>(counted));
  const auto t1 = clock_type::now();
  SQLite::Statement daily(
      db,
      "SELECT day, event, events FROM daily_counts WHERE day BETWEEN date(?, 'unixepoch') "
      "AND date(?, 'unixepoch') AND events > 0 ORDER BY day, event");
  daily.bind(1, static_cast<std::int64_t>(month_start));
  daily.bind(2, static_cast<std::int64_t>(month_start + (days - 1) * 86400));
  std::int64_t daily_groups = 0, daily_counted = 0;
  while (daily.executeStep()) {
    ++daily_groups;
    daily_counted += daily.getColumn(2).getInt64();
  }
  std::printf("daily_counts_month: ms=%.2f groups=%lld events_counted=%lld\n",
              std::chrono::duration<double, std::milli>(clock_type::now() - t1).count(),
              static_cast<long long>(daily_groups), static_cast<long long>(daily_counted));
  return 0;
}
