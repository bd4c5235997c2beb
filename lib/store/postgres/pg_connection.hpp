// One libpq connection with RAII results and transactions, errors that say what was being
// done (never the password), COPY FROM STDIN, and identifier quoting. libpq-fe.h stays in
// pg_connection.cpp.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct pg_conn;
struct pg_result;

namespace sgs::store::pg {

// What PostgreSQL (or libpq) said, with what we were doing. `sqlstate` is "" when the
// connection itself failed (no server answer).
class pg_error : public std::runtime_error {
 public:
  pg_error(const std::string& message, std::string sqlstate, bool connection_bad)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)), bad_(connection_bad) {}
  const std::string& sqlstate() const { return sqlstate_; }
  // The connection is unusable (server gone, network): reconnect before trying again.
  bool connection_bad() const { return bad_; }
  // A serialization failure or deadlock: the same transaction may simply be run again.
  bool retryable() const { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }

 private:
  std::string sqlstate_;
  bool bad_;
};

// A query's answer; owns the PGresult.
class result {
 public:
  explicit result(pg_result* r) : r_(r) {}
  result(result&&) noexcept = default;
  result& operator=(result&&) noexcept = default;
  ~result();
  int rows() const;
  bool is_null(int row, int col) const;
  std::string_view text(int row, int col) const;  // "" for NULL
  std::int64_t int64(int row, int col) const;     // 0 for NULL
  std::int64_t affected() const;                  // rows of INSERT/UPDATE/DELETE

 private:
  struct deleter {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, deleter> r_;
};

using param = std::optional<std::string_view>;  // nullopt = SQL NULL

// Not thread-safe: one thread uses a connection at a time. Every call throws pg_error.
class connection {
 public:
  // Connects (libpq URI or key=value conninfo; PGPASSWORD, ~/.pgpass etc. apply) and sets
  // the session up for us: synchronous_commit on (a 2xx must mean durable whatever the role's
  // default), UTC, and search_path = schema (when not empty), public.
  connection(const std::string& conninfo, std::string_view schema,
             std::string_view application_name = "sendgrid-source");
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  result exec(std::string_view sql, std::string_view what);
  result exec(std::string_view sql, std::initializer_list<param> params, std::string_view what);
  // COPY <target> FROM STDIN (text format) with `data` (rows already escaped, see copy_text).
  void copy_in(std::string_view copy_sql, std::string_view data, std::string_view what);
  bool ok() const;

 private:
  [[noreturn]] void fail(pg_result* r, std::string_view what);
  result checked(pg_result* r, std::string_view what);  // throws unless r succeeded
  pg_conn* c_ = nullptr;
};

// BEGIN now, ROLLBACK in the destructor unless committed: no early return leaves a
// transaction open on the connection.
class transaction {
 public:
  explicit transaction(connection& c) : c_(c) { c_.exec("BEGIN", "cannot begin a transaction"); }
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void commit() {
    c_.exec("COMMIT", "cannot commit");
    open_ = false;
  }

 private:
  connection& c_;
  bool open_ = true;
};

// Runs `f`, turning a pg_error into `Error` (the exception type an interface promises) with
// the same message, which already says what was being done.
template <class Error, class F>
auto rethrow_as(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const pg_error& e) {
    throw Error(e.what());
  }
}

// "name" with embedded quotes doubled: safe for any source name.
std::string quote_ident(std::string_view name);
// 'text' with embedded quotes doubled (standard_conforming_strings is on since 9.1).
std::string quote_literal(std::string_view text);
// The URL (or conninfo) with its password replaced by "***", for messages and logs.
std::string redact(std::string_view conninfo);

// COPY text format: appends `v` escaped (backslash, tab, newline, CR) to `out`.
void copy_text(std::string& out, std::string_view v);
inline void copy_null(std::string& out) { out += "\\N"; }

}  // namespace sgs::store::pg
