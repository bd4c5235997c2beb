// What the files of the SQLite event store share: statement handles, the SQLite error type of
// a write, row readers, and the definitions of the store's private structs. Private to
// lib/store (sqlite_event_store.cpp, pending_journal.cpp, merger.cpp, checkpointer.cpp,
// recovery.cpp).
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/sqlite_event_store.hpp"
#include "text/iso8601.hpp"

namespace sgs::store {
namespace sqlite_detail {

// SQLite's busy_timeout sleeps in growing steps (up to 100 ms) and oversleeps a short RESTART
// checkpoint; the writer retries every millisecond instead, up to the configured timeout.
inline int writer_busy_handler(void* timeout_ms, int attempts) {
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
  int code = SQLITE_ERROR;
};

inline void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw write_failure{std::string(what) + ": " + sqlite3_errmsg(db), rc};
  }
}

inline stmt_ptr prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    throw store_error("cannot prepare statement (" + std::string(sqlite3_errmsg(db)) + "): " + sql);
  }
  return stmt_ptr(s);
}

struct dedup_key_hash {
  std::size_t operator()(const events::dedup_key& k) const noexcept {
    return k.low ^ (k.high << 1);
  }
};

inline std::optional<std::string_view> column_text(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

inline std::optional<std::int64_t> column_int(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}

// The duplicate indexes stored with a pending body, as a sorted list.
inline std::vector<std::uint32_t> decode_indexes(const void* blob, int bytes) {
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
inline std::chrono::system_clock::time_point parse_iso8601(std::string_view text) {
  return text::parse_iso8601_utc(text).value_or(std::chrono::system_clock::time_point{});
}

// Rolls back the connection's open transaction after a failure and resets its statements.
inline void roll_back(sqlite3* h, sqlite3_stmt* rollback,
                      std::initializer_list<sqlite3_stmt*> used) {
  for (auto* s : used) sqlite3_reset(s);
  if (!sqlite3_get_autocommit(h)) {
    sqlite3_step(rollback);
    sqlite3_reset(rollback);
  }
}

}  // namespace sqlite_detail

struct sqlite_event_store::pending {
  events::parsed_batch batch;
  std::chrono::system_clock::time_point received_at;
  std::string received_at_text;
  write_callback done;
  write_result result;
  std::vector<events::dedup_key> new_keys;  // added to the index after the commit
  std::string duplicate_indexes;            // uint32 LE indexes into batch.events
  std::int64_t journal_id = 0;              // its pending_bodies row, once inserted
  std::array<std::uint32_t, events::event_type_count> stored_by_type{};
  std::array<std::uint32_t, events::event_type_count> duplicates_by_type{};
};

// A journaled body's parsed batch, handed from the writer to the merger (parse once).
struct sqlite_event_store::parsed_body {
  std::int64_t id = 0;       // pending_bodies.id
  std::uint64_t events = 0;  // stored + rejected, as in pending_bodies.events
  events::parsed_batch batch;
};

// One acknowledged body read back from pending_bodies.
struct sqlite_event_store::body_row {
  std::int64_t id = 0;
  std::string received_at;
  std::string body;
  std::string duplicates;  // uint32 LE indexes of the body's duplicate events
  std::uint64_t events = 0;
};

// Each statement belongs to one connection and is used by that connection's thread only.
struct sqlite_event_store::statements {
  using stmt_ptr = sqlite_detail::stmt_ptr;
  // db_ (merger thread; the open and close paths before and after it runs)
  stmt_ptr insert_event;  // into event_rows
  stmt_ptr insert_rejected;
  stmt_ptr record_merged;  // with clear_merged: sqlite_sequence keeps the last merged id
  stmt_ptr clear_merged;
  stmt_ptr select_legacy_pending;
  stmt_ptr delete_legacy_pending;
  stmt_ptr begin;
  stmt_ptr commit;
  stmt_ptr rollback;
  // pending_reader_ (merger thread)
  stmt_ptr select_pending;
  // pending_db_ (writer thread)
  stmt_ptr insert_pending;
  stmt_ptr delete_pending;
  stmt_ptr pending_begin;
  stmt_ptr pending_commit;
  stmt_ptr pending_rollback;
};

}  // namespace sgs::store
