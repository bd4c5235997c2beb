// Runs the real webhook server and event stores on 127.0.0.1:0 in a temp dir, for tests.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_event_store.hpp"
#include "webhook/server.hpp"

namespace sgs::test {

// A fresh directory under the system temp dir, removed when destroyed.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class test_server {
 public:
  // Starts stores for `sources` in `dir` and the server on a free port.
  test_server(const std::filesystem::path& dir, std::vector<std::string> sources = {"default"},
              webhook::server_options options = {}, store::store_options store_template = {},
              std::map<std::string, webhook::source_auth> auth = {});
  ~test_server();
  void stop();  // drains and closes; idempotent
  std::uint16_t port() const { return port_; }
  // The source's database file, once everything acknowledged has reached the event tables
  // (acknowledged bodies wait in pending_bodies for a moment; see event_store).
  std::filesystem::path db_file(const std::string& source = "default");
  // Waits (up to 10 s) until no batch is queued or pending for any source.
  void settle();
  store::event_store& store(const std::string& source = "default");
  webhook::server& server() { return *server_; }

 private:
  std::filesystem::path path_of(const std::string& source) const { return dir_ / (source + ".db"); }
  std::filesystem::path dir_;
  boost::asio::io_context ioc_;
  std::vector<std::unique_ptr<store::event_store>> stores_;
  std::vector<std::string> names_;
  std::unique_ptr<webhook::server> server_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
};

// Waits (up to 10 s) until no batch is queued or pending in any of `stores`.
void settle_stores(const std::vector<std::unique_ptr<store::event_store>>& stores);
// Starts the real server on 127.0.0.1:0 over `endpoints`, run by two threads (added to
// `threads`) of `ioc`.
std::unique_ptr<webhook::server> start_on_loopback(
    boost::asio::io_context& ioc,
    std::map<std::string, webhook::source_endpoint, std::less<>> endpoints,
    webhook::server_options options, std::vector<std::thread>& threads);

// Row count of a table (read-only connection, as a user would query).
std::int64_t count_rows(const std::filesystem::path& db, const std::string& table);
// Sum over every event table and other_events.
std::int64_t count_events(const std::filesystem::path& db);
// A single value, as text (empty for NULL).
std::string query_text(const std::filesystem::path& db, const std::string& sql);

}  // namespace sgs::test
