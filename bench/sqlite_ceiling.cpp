// SQLite's raw insert rate on this machine and disk: the ceiling any webhook receiver that
// stores into SQLite works under. No HTTP, no JSON: rows are made up front (an event's typed
// columns plus ~380 bytes of raw JSON, like a SendGrid event), then inserted with one
// prepared statement, synchronous=FULL, WAL, on a fresh file in the given directory.
//
//   sqlite_ceiling DIR [ROWS=1000000]
//
// Prints one line per variant: plain INSERTs in one big transaction (no index, then with
// sg_event_id as PRIMARY KEY, the hand-written receivers' schema), and with a commit every
// 1000 rows (what one 1000-event POST per transaction costs).
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

struct row {
  std::string sg_event_id, email, sg_message_id, raw;
  std::int64_t timestamp;
};

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", sql, err ? err : "?");
    std::exit(1);
  }
}

std::vector<row> make_rows(std::size_t n) {
  std::mt19937_64 rng(42);
  const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::vector<row> rows(n);
  for (std::size_t i = 0; i < n; ++i) {
    row& r = rows[i];
    for (int k = 0; k < 22; ++k) r.sg_event_id += b64[rng() % 64];
    r.email = "user" + std::to_string(rng() % 1000000) + "@example.com";
    r.sg_message_id = std::to_string(rng()) + ".filter0001.16648.5515E0B88.0";
    r.timestamp = 1767225600 + static_cast<std::int64_t>(i / 100);
    r.raw = R"({"email":")" + r.email + R"(","timestamp":)" + std::to_string(r.timestamp) +
            R"(,"event":"delivered","sg_event_id":")" + r.sg_event_id + R"(","sg_message_id":")" +
            r.sg_message_id +
            R"(","smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","category":["newsletter"],)"
            R"("response":"250 OK","ip":"168.1.1.1","tls":1,"userid":"1123",)"
            R"("template":"welcome","tenant_id":"t-42","order_id":"o-991"})";
  }
  return rows;
}

// Inserts every row, committing every `per_commit` rows (0: one transaction); rows/s.
double measure(const std::filesystem::path& file, const std::vector<row>& rows, bool primary_key,
               std::size_t per_commit) {
  std::filesystem::remove(file);
  std::filesystem::remove(file.string() + "-wal");
  std::filesystem::remove(file.string() + "-shm");
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) {
    std::fprintf(stderr, "cannot open %s\n", file.c_str());
    std::exit(1);
  }
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, "PRAGMA synchronous=FULL");
  exec(db, primary_key ? "CREATE TABLE delivered (sg_event_id TEXT PRIMARY KEY, email TEXT, "
                         "timestamp INTEGER, sg_message_id TEXT, raw TEXT NOT NULL)"
                       : "CREATE TABLE delivered (sg_event_id TEXT, email TEXT, "
                         "timestamp INTEGER, sg_message_id TEXT, raw TEXT NOT NULL)");
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO delivered VALUES (?, ?, ?, ?, ?)", -1, &ins, nullptr);
  const auto started = std::chrono::steady_clock::now();
  exec(db, "BEGIN");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    sqlite3_bind_text(ins, 1, r.sg_event_id.data(), static_cast<int>(r.sg_event_id.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, r.email.data(), static_cast<int>(r.email.size()), SQLITE_STATIC);
    sqlite3_bind_int64(ins, 3, r.timestamp);
    sqlite3_bind_text(ins, 4, r.sg_message_id.data(), static_cast<int>(r.sg_message_id.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, r.raw.data(), static_cast<int>(r.raw.size()), SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) {
      std::fprintf(stderr, "INSERT: %s\n", sqlite3_errmsg(db));
      std::exit(1);
    }
    sqlite3_reset(ins);
    if (per_commit && (i + 1) % per_commit == 0) {
      exec(db, "COMMIT");
      exec(db, "BEGIN");
    }
  }
  exec(db, "COMMIT");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  sqlite3_finalize(ins);
  sqlite3_close(db);
  std::filesystem::remove(file);
  std::filesystem::remove(file.string() + "-wal");
  std::filesystem::remove(file.string() + "-shm");
  return static_cast<double>(rows.size()) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: sqlite_ceiling DIR [ROWS=1000000]\n");
    return 2;
  }
  const std::filesystem::path file = std::filesystem::path(argv[1]) / "sqlite_ceiling.db";
  const std::size_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1000000;
  const auto rows = make_rows(n);
  std::printf("# SQLite %s, %zu rows of ~%zu bytes, synchronous=FULL, WAL, %s\n",
              sqlite3_libversion(), n, rows.empty() ? 0 : rows[0].raw.size() + 80, argv[1]);
  std::printf("sqlite_insert one_txn no_index rows_per_s=%.0f\n", measure(file, rows, false, 0));
  std::printf("sqlite_insert one_txn sg_event_id_primary_key rows_per_s=%.0f\n",
              measure(file, rows, true, 0));
  std::printf("sqlite_insert commit_every_1000 sg_event_id_primary_key rows_per_s=%.0f\n",
              measure(file, rows, true, 1000));
  return 0;
}
