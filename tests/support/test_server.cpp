// Test harness: real stores and the real server on loopback, threads for the io_context.
#include "test_server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <random>

#include "events/event.hpp"

namespace sgs::test {

temp_dir::temp_dir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("sgs-test-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

test_server::test_server(const std::filesystem::path& dir, std::vector<std::string> sources,
                         webhook::server_options options, store::store_options store_template,
                         std::map<std::string, webhook::source_auth> auth)
    : dir_(dir), names_(std::move(sources)) {
  std::map<std::string, webhook::source_endpoint, std::less<>> endpoints;
  for (const auto& name : names_) {
    store::store_options o = store_template;
    o.file = path_of(name);
    stores_.push_back(store::sqlite_event_store::open(o));
    endpoints.emplace(name, webhook::source_endpoint{name, stores_.back().get(), auth[name]});
  }
  server_ = start_on_loopback(ioc_, std::move(endpoints), options, threads_);
  port_ = server_->port();
}

std::unique_ptr<webhook::server> start_on_loopback(
    boost::asio::io_context& ioc,
    std::map<std::string, webhook::source_endpoint, std::less<>> endpoints,
    webhook::server_options options, std::vector<std::thread>& threads) {
  options.host = "127.0.0.1";
  options.port = 0;
  auto server =
      std::make_unique<webhook::server>(ioc.get_executor(), options, std::move(endpoints));
  server->start();
  for (int i = 0; i < 2; ++i) threads.emplace_back([&ioc] { webhook::run_contained(ioc); });
  return server;
}

test_server::~test_server() { stop(); }

void test_server::stop() {
  if (stopped_) return;
  stopped_ = true;
  server_->stop();
  for (auto& t : threads_) t.join();
  for (auto& s : stores_) s->close();
}

std::filesystem::path test_server::db_file(const std::string& source) {
  settle();
  return path_of(source);
}

void test_server::settle() {
  if (!stopped_) settle_stores(stores_);
}

void settle_stores(const std::vector<std::unique_ptr<store::event_store>>& stores) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (const auto& s : stores) {
    while ((s->counters().pending_events.load() > 0 || s->counters().queued_events.load() > 0) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

store::event_store& test_server::store(const std::string& source) {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == source) return *stores_[i];
  }
  throw std::runtime_error("no such source in test server: " + source);
}

std::int64_t count_rows(const std::filesystem::path& db, const std::string& table) {
  SQLite::Database d(db.string(), SQLite::OPEN_READONLY);
  return d.execAndGet("SELECT count(*) FROM " + table).getInt64();
}

std::int64_t count_events(const std::filesystem::path& db) {
  std::int64_t n = 0;
  for (auto t : events::all_event_types) n += count_rows(db, std::string(events::table_name(t)));
  return n;
}

std::string query_text(const std::filesystem::path& db, const std::string& sql) {
  SQLite::Database d(db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(d, sql);
  if (!q.executeStep() || q.getColumn(0).isNull()) return {};
  return q.getColumn(0).getString();
}

}  // namespace sgs::test
