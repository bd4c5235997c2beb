// The store backends a parameterised test runs on: SQLite in a temp dir, and PostgreSQL in a
// fresh schema of the server scripts/with-postgres.sh started (SGS_TEST_PG_URL). Tests read
// what a user would query, with SQL both databases accept.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "store/backend.hpp"
#include "test_server.hpp"
#include "webhook/server.hpp"

namespace sgs::test {

enum class backend_kind { sqlite, postgresql };
std::string backend_label(backend_kind kind);  // for test names: "SQLite", "PostgreSQL"
// gtest's name printer for INSTANTIATE_TEST_SUITE_P.
struct backend_name {
  std::string operator()(const ::testing::TestParamInfo<backend_kind>& info) const {
    return backend_label(info.param);
  }
};

// The test server's PostgreSQL URL (the password comes from PGPASSWORD); nullopt when unset.
std::optional<std::string> test_pg_url();

// One source's store on a backend. For PostgreSQL the source (and so its schema) gets a name
// of its own, so that tests running in parallel never share tables; the schema is dropped at
// the end.
class backend_under_test {
 public:
  explicit backend_under_test(backend_kind kind);
  ~backend_under_test();
  backend_kind kind() const { return kind_; }
  // Whether the backend can be used here (PostgreSQL needs SGS_TEST_PG_URL).
  bool available() const { return available_; }
  const std::string& source() const { return source_; }
  const config::storage_config& storage() const { return storage_; }
  store::backend& backend() { return *backend_; }

  // The first column of the first row, as text ("" for NULL or no row).
  std::string query(const std::string& sql);
  // Runs statements that write (rows a test puts in directly), with SQL both databases accept.
  void execute(const std::string& sql);
  std::int64_t count(const std::string& table);
  // query() for SQL written for SQLite: on PostgreSQL it reads the tables through views that
  // show jsonb as minified JSON text and times as ISO-8601 text (what the SQLite store holds),
  // with group_concat(x) and json_extract(x, '$.k') spelled the PostgreSQL way.
  std::string query_as_text(const std::string& sql);
  // Rows of an event table plus other_events: every event stored.
  std::int64_t count_events();

 private:
  backend_kind kind_;
  bool available_ = true;
  std::string source_;
  temp_dir dir_;
  config::storage_config storage_;
  std::unique_ptr<store::backend> backend_;
  bool text_views_ = false;
};

// Skips the test where the backend is unavailable, except under CI=true, where a PostgreSQL
// test without its server fails (scripts/test.sh starts one).
#define SGS_REQUIRE_BACKEND(b)                                                           \
  do {                                                                                   \
    if (!(b).available()) {                                                              \
      if (::sgs::test::ci_mode()) FAIL() << "CI=true but SGS_TEST_PG_URL is not set";    \
      GTEST_SKIP() << "SGS_TEST_PG_URL is not set (run under scripts/with-postgres.sh)"; \
    }                                                                                    \
  } while (0)
bool ci_mode();

// The real webhook server on 127.0.0.1:0 with the event stores of a backend's sources.
class backend_server {
 public:
  backend_server(store::backend& backend, std::vector<std::string> sources,
                 webhook::server_options options = {});
  ~backend_server();
  void stop();  // drains and closes; idempotent
  // Waits (up to 10 s) until nothing is queued or pending: everything acknowledged is in the
  // tables (SQLite acknowledges from its journal and merges a moment later).
  void settle();
  std::uint16_t port() const { return port_; }
  store::event_store& store(std::size_t i = 0) { return *stores_.at(i); }

 private:
  boost::asio::io_context ioc_;
  std::vector<std::unique_ptr<store::event_store>> stores_;
  std::unique_ptr<webhook::server> server_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
};

// What the webhook tests read, as test_server.hpp's functions do for a SQLite file.
std::int64_t count_rows(backend_under_test& b, const std::string& table);
std::int64_t count_events(backend_under_test& b);
std::string query_text(backend_under_test& b, const std::string& sql);

}  // namespace sgs::test
