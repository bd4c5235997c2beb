// The signed-webhook public keys in a source's SQLite file, stored by `webhook configure`
// (table webhook_verification_keys, schema/0003_webhook_keys.sql).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/webhook_key.hpp"

namespace SQLite {
class Database;
}

namespace sgs::store {

// Opens the source's database (creating and migrating it when needed: the daemon may never
// have run) and stores the key, unless that key is already there. Returns true when it was
// added. Safe while a daemon writes the same file (WAL; one short transaction). Throws
// std::runtime_error naming the file.
bool add_webhook_key(const std::filesystem::path& file, const stored_webhook_key& key,
                     std::chrono::milliseconds busy_timeout);

// Deletes a stored key (one the daemon cannot use). Returns true when one was there. Throws
// std::runtime_error naming the file.
bool remove_webhook_key(const std::filesystem::path& file, const std::string& public_key,
                        std::chrono::milliseconds busy_timeout);

// Every stored key, oldest first. An absent file, or one not yet migrated to version 3, has
// none. Opens read-only. Throws std::runtime_error naming the file when it cannot read it.
std::vector<stored_webhook_key> read_webhook_keys(const std::filesystem::path& file);

// A read-only connection kept by the daemon to notice keys added while it runs. Not
// thread-safe (the caller serialises).
class webhook_key_reader {
 public:
  explicit webhook_key_reader(std::filesystem::path file);
  ~webhook_key_reader();
  webhook_key_reader(const webhook_key_reader&) = delete;
  webhook_key_reader& operator=(const webhook_key_reader&) = delete;

  // The stored keys when another connection committed since the last call (PRAGMA
  // data_version changed) or on the first call; nullopt when nothing can have changed. The
  // daemon's own writer commits webhook batches, so a change does not mean new keys: the
  // caller compares. Throws std::runtime_error when the file cannot be read (it then retries
  // the open on the next call).
  std::optional<std::vector<std::string>> read_if_changed();

 private:
  std::filesystem::path file_;
  std::unique_ptr<SQLite::Database> db_;
  std::optional<long long> data_version_;
};

}  // namespace sgs::store
