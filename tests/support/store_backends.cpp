// Backends under test: a temp dir for SQLite, a schema of its own for PostgreSQL.
#include "store_backends.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <random>
#include <regex>

#include "events/event.hpp"

namespace sgs::test {

namespace {

// Runs one statement on the test server; the first value as text.
std::string pg_query(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string e = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("cannot connect to the test PostgreSQL: " + e);
  }
  PGresult* r = PQexec(c, ("SET client_min_messages TO warning; " + sql).c_str());
  const auto status = PQresultStatus(r);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    std::string e = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
    throw std::runtime_error(sql + ": " + e);
  }
  std::string out;
  if (status == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
    out = PQgetvalue(r, 0, 0);
  }
  PQclear(r);
  PQfinish(c);
  return out;
}

}  // namespace

std::string backend_label(backend_kind kind) {
  return kind == backend_kind::sqlite ? "SQLite" : "PostgreSQL";
}

std::optional<std::string> test_pg_url() {
  const char* url = std::getenv("SGS_TEST_PG_URL");
  if (url == nullptr || *url == '\0') return std::nullopt;
  return std::string(url);
}

bool ci_mode() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

backend_under_test::backend_under_test(backend_kind kind) : kind_(kind) {
  if (kind == backend_kind::sqlite) {
    source_ = "default";
    storage_.dir = dir_.path();
  } else {
    const auto url = test_pg_url();
    if (!url) {
      available_ = false;
      return;
    }
    std::random_device rd;
    source_ = "t" + std::to_string(rd()) + std::to_string(rd() % 1000);
    storage_.backend = config::storage_backend::postgresql;
    storage_.url = *url;
  }
  backend_ = store::make_backend(storage_);
}

backend_under_test::~backend_under_test() {
  if (kind_ == backend_kind::postgresql && available_) {
    try {
      pg_query(storage_.url, "DROP SCHEMA IF EXISTS \"" + source_ +
                                 "_text\" CASCADE; DROP SCHEMA IF EXISTS \"" + source_ +
                                 "\" CASCADE");
    } catch (...) {
      // A schema left behind goes with the test server.
    }
  }
}

std::string backend_under_test::query(const std::string& sql) {
  if (kind_ == backend_kind::postgresql) {
    return pg_query(storage_.url, "SET search_path TO \"" + source_ + "\"; " + sql);
  }
  SQLite::Database d((dir_.path() / (source_ + ".db")).string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(d, sql);
  if (!q.executeStep() || q.getColumn(0).isNull()) return {};
  return q.getColumn(0).getString();
}

void backend_under_test::execute(const std::string& sql) {
  if (kind_ == backend_kind::postgresql) {
    pg_query(storage_.url, "SET search_path TO \"" + source_ + "\"; " + sql);
    return;
  }
  SQLite::Database d((dir_.path() / (source_ + ".db")).string(), SQLite::OPEN_READWRITE);
  d.exec(sql);
}

std::string backend_under_test::query_as_text(const std::string& sql) {
  if (kind_ == backend_kind::sqlite) return query(sql);
  const std::string text_schema = "\"" + source_ + "_text\"";
  if (!text_views_) {
    // One view per table with a jsonb or timestamptz column, in a schema searched first.
    std::string ddl = "CREATE SCHEMA " + text_schema + ";";
    const std::string columns = pg_query(
        storage_.url,
        "SELECT string_agg(table_name || ' ' || column_name || ' ' || data_type, '|' ORDER BY "
        "table_name, ordinal_position) FROM information_schema.columns WHERE table_schema = '" +
            source_ + "' AND table_name NOT LIKE '%\\_p%' AND table_name NOT LIKE '%default'");
    std::map<std::string, std::string> selects;
    std::size_t start = 0;
    while (start < columns.size()) {
      auto end = columns.find('|', start);
      if (end == std::string::npos) end = columns.size();
      const std::string row = columns.substr(start, end - start);
      start = end + 1;
      const auto a = row.find(' ');
      const auto b = row.find(' ', a + 1);
      const std::string table = row.substr(0, a), column = row.substr(a + 1, b - a - 1),
                        type = row.substr(b + 1);
      std::string expr = column;
      if (type == "jsonb") {
        expr = "regexp_replace(" + column +
               "::text, '(\"(?:[^\"\\\\]|\\\\.)*\")|\\s+', '\\1', 'g') AS " + column;
      } else if (type == "timestamp with time zone") {
        expr = "\"" + source_ + "\".sgs_iso(" + column + ") AS " + column;
      }
      auto& sel = selects[table];
      sel += (sel.empty() ? "" : ", ") + expr;
    }
    for (const auto& [table, sel] : selects) {
      ddl += "CREATE VIEW " + text_schema + "." + table + " AS SELECT " + sel + " FROM \"" +
             source_ + "\"." + table + ";";
    }
    pg_query(storage_.url, ddl);
    text_views_ = true;
  }
  // SQLite's spellings the tests use, in PostgreSQL's.
  std::string pg = std::regex_replace(
      sql, std::regex(R"(group_concat\(([^()]*(?:\([^()]*\))?[^()]*), ('[^']*')\))"),
      "string_agg(($1)::text, $2)");  // in the order of the subquery, as SQLite
  pg = std::regex_replace(pg, std::regex(R"(group_concat\(([^)]*)\))"),
                          "string_agg(($1)::text, ',' ORDER BY id)");
  pg = std::regex_replace(pg, std::regex(R"(json_extract\(([a-z_]+), '\$\.([A-Za-z_]+)'\))"),
                          "(($1)::jsonb->>'$2')");
  pg = std::regex_replace(
      pg, std::regex(R"(json_extract\(([a-z_]+), '\$\[([0-9]+)\]\.([A-Za-z_]+)'\))"),
      "(($1)::jsonb->$2->>'$3')");
  pg = std::regex_replace(pg, std::regex(R"(\(([a-z_]+) LIKE ('[^']*')\))"),
                          "(CASE WHEN $1 LIKE $2 THEN 1 ELSE 0 END)");
  // PostgreSQL 15 wants a name for a subquery in FROM.
  if (pg.find("FROM (SELECT") != std::string::npos && !pg.empty() && pg.back() == ')') pg += " sub";
  // Booleans as SQLite shows them.
  const std::string value =
      pg_query(storage_.url, "SET search_path TO " + text_schema + ", \"" + source_ + "\"; " + pg);
  return value == "t" ? "1" : value == "f" ? "0" : value;
}

std::int64_t backend_under_test::count(const std::string& table) {
  return std::stoll(query("SELECT count(*) FROM " + table));
}

std::int64_t backend_under_test::count_events() {
  std::int64_t n = 0;
  for (auto t : events::all_event_types) n += count(std::string(events::table_name(t)));
  return n;
}

backend_server::backend_server(store::backend& backend, std::vector<std::string> sources,
                               webhook::server_options options) {
  std::map<std::string, webhook::source_endpoint, std::less<>> endpoints;
  for (const auto& name : sources) {
    stores_.push_back(backend.open_event_store(name));
    endpoints.emplace(name, webhook::source_endpoint{name, stores_.back().get(), {}});
  }
  server_ = start_on_loopback(ioc_, std::move(endpoints), options, threads_);
  port_ = server_->port();
}

backend_server::~backend_server() { stop(); }

void backend_server::settle() {
  if (!stopped_) settle_stores(stores_);
}

std::int64_t count_rows(backend_under_test& b, const std::string& table) { return b.count(table); }
std::int64_t count_events(backend_under_test& b) { return b.count_events(); }
std::string query_text(backend_under_test& b, const std::string& sql) { return b.query(sql); }

void backend_server::stop() {
  if (stopped_) return;
  stopped_ = true;
  server_->stop();
  for (auto& t : threads_) t.join();
  // close() answers what was queued and, for SQLite, merges every acknowledged body into the
  // tables: afterwards the tables hold everything acknowledged.
  for (auto& s : stores_) s->close();
}

}  // namespace sgs::test
