// The SQLite backend: where each source's file is, and the stores opened on it.
#include "store/sqlite_backend.hpp"

#include "config/config.hpp"
#include "store/migrations.hpp"
#include "store/store_summary.hpp"
#include "store/webhook_keys.hpp"

namespace sgs::store {

std::filesystem::path sqlite_backend::file_of(std::string_view source) const {
  return config::source_database_file(config::storage_config{.dir = options_.dir}, source);
}

store_options sqlite_backend::event_store_options(std::string_view source) const {
  store_options o;
  o.file = file_of(source);
  o.synchronous_full = options_.synchronous_full;
  o.busy_timeout = options_.busy_timeout;
  o.dedup_window = options_.dedup_window;
  o.on_migration_step = migration_progress_;
  return o;
}

object_store_options sqlite_backend::object_store_options_for(std::string_view source) const {
  object_store_options o;
  o.file = file_of(source);
  o.synchronous_full = options_.synchronous_full;
  o.busy_timeout = options_.busy_timeout;
  return o;
}

std::string sqlite_backend::location(std::string_view source) const {
  return file_of(source).string();
}

std::unique_ptr<event_store> sqlite_backend::open_event_store(std::string_view source) {
  return sqlite_event_store::open(event_store_options(source));
}

std::unique_ptr<object_store> sqlite_backend::open_object_store(std::string_view source) {
  return sqlite_object_store::open(object_store_options_for(source));
}

int sqlite_backend::migrate(std::string_view source) {
  // Opening migrates both files and recovers what a crash left; closing folds the WALs in.
  sqlite_event_store::open(event_store_options(source))->close();
  return latest_schema_version();
}

bool sqlite_backend::exists(std::string_view source) const {
  return std::filesystem::exists(file_of(source));
}

store_summary sqlite_backend::read_summary(std::string_view source) {
  return store::read_summary(file_of(source));
}

std::optional<std::string> sqlite_backend::read_last_arrival(std::string_view source) {
  return store::read_last_arrival(file_of(source));
}

bool sqlite_backend::add_webhook_key(std::string_view source, const stored_webhook_key& key) {
  return store::add_webhook_key(file_of(source), key, options_.busy_timeout);
}

bool sqlite_backend::remove_webhook_key(std::string_view source, const std::string& public_key) {
  return store::remove_webhook_key(file_of(source), public_key, options_.busy_timeout);
}

std::vector<stored_webhook_key> sqlite_backend::read_webhook_keys(std::string_view source) {
  return store::read_webhook_keys(file_of(source));
}

webhook_key_poller sqlite_backend::poll_webhook_keys(std::string_view source) {
  auto reader = std::make_shared<webhook_key_reader>(file_of(source));
  return [reader] { return reader->read_if_changed(); };
}

}  // namespace sgs::store
