// The SQLite backend: one database file per source in storage.dir (<source>.db, with its
// pending journal <source>.pending.db beside it).
#pragma once

#include <chrono>
#include <filesystem>

#include "store/backend.hpp"
#include "store/sqlite_event_store.hpp"
#include "store/sqlite_object_store.hpp"

namespace sgs::store {

struct sqlite_backend_options {
  std::filesystem::path dir;
  bool synchronous_full = true;
  std::chrono::milliseconds busy_timeout{5000};
  std::chrono::hours dedup_window{72};
};

// Stateless apart from its options: every call opens its own connections, so any thread may
// call it.
class sqlite_backend final : public backend {
 public:
  explicit sqlite_backend(sqlite_backend_options options) : options_(std::move(options)) {}

  std::filesystem::path file_of(std::string_view source) const;
  store_options event_store_options(std::string_view source) const;
  object_store_options object_store_options_for(std::string_view source) const;

  std::string location(std::string_view source) const override;
  std::unique_ptr<event_store> open_event_store(std::string_view source) override;
  std::unique_ptr<object_store> open_object_store(std::string_view source) override;
  int migrate(std::string_view source) override;
  bool exists(std::string_view source) const override;
  store_summary read_summary(std::string_view source) override;
  std::optional<std::string> read_last_arrival(std::string_view source) override;
  bool add_webhook_key(std::string_view source, const stored_webhook_key& key) override;
  bool remove_webhook_key(std::string_view source, const std::string& public_key) override;
  std::vector<stored_webhook_key> read_webhook_keys(std::string_view source) override;
  webhook_key_poller poll_webhook_keys(std::string_view source) override;

 private:
  sqlite_backend_options options_;
};

}  // namespace sgs::store
