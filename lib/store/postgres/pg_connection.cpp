// libpq behind pg_connection.hpp: connect, exec, COPY, quoting, redaction.
#include "store/postgres/pg_connection.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <vector>

namespace sgs::store::pg {

namespace {

std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

void result::deleter::operator()(pg_result* r) const { PQclear(r); }
result::~result() = default;
int result::rows() const { return PQntuples(r_.get()); }
bool result::is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
std::string_view result::text(int row, int col) const {
  return {PQgetvalue(r_.get(), row, col),
          static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
}
std::int64_t result::int64(int row, int col) const {
  const auto t = text(row, col);
  std::int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}
std::int64_t result::affected() const {
  const char* n = PQcmdTuples(r_.get());
  std::int64_t v = 0;
  if (n != nullptr) std::from_chars(n, n + std::char_traits<char>::length(n), v);
  return v;
}

connection::connection(const std::string& conninfo, std::string_view schema,
                       std::string_view application_name) {
  // expand_dbname: the "dbname" value may itself be a URI or conninfo string.
  // "sendgrid-source <schema>": pg_stat_activity shows which source a session writes.
  std::string app(application_name);
  if (!schema.empty()) app += " " + std::string(schema);
  const char* keys[] = {"dbname", "application_name", "connect_timeout", nullptr};
  const char* values[] = {conninfo.c_str(), app.c_str(), "10", nullptr};
  c_ = PQconnectdbParams(keys, values, 1);
  if (c_ == nullptr) throw pg_error("cannot connect to PostgreSQL: out of memory", "", true);
  if (PQstatus(c_) != CONNECTION_OK) {
    const std::string message =
        "cannot connect to PostgreSQL at " + redact(conninfo) + ": " + trimmed(PQerrorMessage(c_));
    PQfinish(c_);
    c_ = nullptr;
    throw pg_error(message, "", true);
  }
  std::string setup =
      "SET synchronous_commit TO on; SET TIME ZONE 'UTC'; SET client_min_messages TO warning";
  if (!schema.empty()) setup += "; SET search_path TO " + quote_ident(schema) + ", public";
  exec(setup, "cannot set the session up");
}

connection::~connection() {
  if (c_ != nullptr) PQfinish(c_);
}

bool connection::ok() const { return c_ != nullptr && PQstatus(c_) == CONNECTION_OK; }

void connection::fail(pg_result* r, std::string_view what) {
  std::string state;
  std::string message;
  if (r != nullptr) {
    if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) state = s;
    message = trimmed(PQresultErrorMessage(r));
    PQclear(r);
  }
  if (message.empty()) message = trimmed(PQerrorMessage(c_));
  throw pg_error(std::string(what) + ": " + message, state, PQstatus(c_) != CONNECTION_OK);
}

result connection::exec(std::string_view sql, std::string_view what) {
  const std::string text(sql);
  return checked(PQexec(c_, text.c_str()), what);
}

result connection::checked(pg_result* r, std::string_view what) {
  const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(r, what);
  return result(r);
}

result connection::exec(std::string_view sql, std::initializer_list<param> params,
                        std::string_view what) {
  const std::string text(sql);
  // Text parameters need not be NUL-terminated when their lengths are given (format 0 uses
  // the length only for binary; so copy into strings to be safe).
  std::vector<std::string> storage;
  storage.reserve(params.size());
  std::vector<const char*> values;
  for (const auto& p : params) {
    if (p) {
      storage.emplace_back(*p);
      values.push_back(storage.back().c_str());
    } else {
      values.push_back(nullptr);
    }
  }
  return checked(PQexecParams(c_, text.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, 0),
                 what);
}

void connection::copy_in(std::string_view copy_sql, std::string_view data, std::string_view what) {
  const std::string text(copy_sql);
  pg_result* r = PQexec(c_, text.c_str());
  if (r == nullptr || PQresultStatus(r) != PGRES_COPY_IN) fail(r, what);
  PQclear(r);
  // One call for the whole buffer: libpq queues it and flushes as the socket takes it.
  constexpr std::size_t chunk = 1 << 20;
  for (std::size_t at = 0; at < data.size(); at += chunk) {
    const auto n = std::min(chunk, data.size() - at);
    if (PQputCopyData(c_, data.data() + at, static_cast<int>(n)) != 1) fail(nullptr, what);
  }
  if (PQputCopyEnd(c_, nullptr) != 1) fail(nullptr, what);
  pg_result* end = PQgetResult(c_);
  const auto status = end ? PQresultStatus(end) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK) {
    // Drain what is left so the connection can be used (or closed) cleanly.
    while (pg_result* more = PQgetResult(c_)) PQclear(more);
    fail(end, what);
  }
  PQclear(end);
  while (pg_result* more = PQgetResult(c_)) PQclear(more);
}

transaction::~transaction() {
  if (!open_) return;
  try {
    if (c_.ok()) c_.exec("ROLLBACK", "cannot roll back");
  } catch (...) {
    // Destructors never throw; a connection that cannot roll back is dropped by its owner.
  }
}

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string redact(std::string_view conninfo) {
  std::string s(conninfo);
  // URI: scheme://user:password@host...
  if (const auto scheme = s.find("://"); scheme != std::string::npos) {
    const auto start = scheme + 3;
    const auto at = s.find('@', start);
    const auto slash = s.find('/', start);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      const auto colon = s.find(':', start);
      if (colon != std::string::npos && colon < at) s.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... as a URI query parameter or a conninfo keyword.
  for (std::size_t at = s.find("password="); at != std::string::npos;
       at = s.find("password=", at + 1)) {
    const auto value = at + 9;
    auto end = s.find_first_of(" &", value);
    if (end == std::string::npos) end = s.size();
    s.replace(value, end - value, "***");
  }
  return s;
}

void copy_text(std::string& out, std::string_view v) {
  std::size_t clean = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    const char* escape = nullptr;
    switch (c) {
      case '\\':
        escape = "\\\\";
        break;
      case '\n':
        escape = "\\n";
        break;
      case '\r':
        escape = "\\r";
        break;
      case '\t':
        escape = "\\t";
        break;
      default:
        continue;
    }
    out.append(v.data() + clean, i - clean);
    out += escape;
    clean = i + 1;
  }
  out.append(v.data() + clean, v.size() - clean);
}

}  // namespace sgs::store::pg
