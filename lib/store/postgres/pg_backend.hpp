// The PostgreSQL backend: every source is a schema named after it in one database, which any
// number of receivers may write at once (SPEC §9).
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "store/backend.hpp"

namespace sgs::store::pg {

struct pg_backend_options {
  std::string conninfo;  // libpq URI with the password when it came from url_file: never logged
  std::chrono::hours dedup_window{72};
  std::optional<int> retention_days;
};

// Thread-safe: every call opens its own connection (or the store it returns owns one).
class pg_backend final : public backend {
 public:
  explicit pg_backend(pg_backend_options options) : options_(std::move(options)) {}

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
  // Migrates the source's schema once per process (later calls return at once).
  void ensure_migrated(std::string_view source);

  pg_backend_options options_;
  std::mutex mutex_;
  std::set<std::string, std::less<>> migrated_;
};

}  // namespace sgs::store::pg
