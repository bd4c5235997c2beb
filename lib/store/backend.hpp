// The storage of a deployment, chosen from [storage] in one place (make_backend): it opens
// each source's event store and object store, and answers what the CLI asks of a source.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "store/event_store.hpp"
#include "store/migration_progress.hpp"
#include "store/object_store.hpp"
#include "store/summary.hpp"
#include "store/webhook_key.hpp"

namespace sgs::store {

// Polls the stored webhook keys of one source: the keys when they may have changed since the
// last call (or on the first), nullopt when they cannot have. Throws std::runtime_error when
// the store cannot be read (the next call tries again). Not thread-safe (the caller
// serialises).
using webhook_key_poller = std::function<std::optional<std::vector<std::string>>()>;

// One per process; shared by every thread that opens a store (the methods are thread-safe:
// each call opens its own connections). A source is named as in the config; the backend
// decides where its data lives (SQLite: <dir>/<source>.db; PostgreSQL: a schema).
class backend {
 public:
  virtual ~backend() = default;

  // Where a source's data lives, for messages.
  virtual std::string location(std::string_view source) const = 0;

  // Opens (creating and migrating) the source's event store and starts its writer. Throws
  // store_error.
  virtual std::unique_ptr<event_store> open_event_store(std::string_view source) = 0;
  // Opens the source's object tables for one sync run. Throws object_store_error.
  virtual std::unique_ptr<object_store> open_object_store(std::string_view source) = 0;
  // Creates or upgrades the source's tables; returns the schema version they are at. Throws
  // store_error.
  virtual int migrate(std::string_view source) = 0;

  // Whether the source's tables exist yet (created by the daemon, `migrate` or `webhook
  // configure`). Throws std::runtime_error when that cannot be told.
  virtual bool exists(std::string_view source) const = 0;

  // Row counts and last runs for `status`. Throws std::runtime_error naming the source's data.
  virtual store_summary read_summary(std::string_view source) = 0;
  // The newest arrival of anything stored (cheap: may be polled); nullopt when nothing was
  // received. Throws std::runtime_error.
  virtual std::optional<std::string> read_last_arrival(std::string_view source) = 0;

  // The signed-webhook keys stored by `webhook configure`: adds one (false when it was there
  // already), removes one (one the daemon cannot use; false when it was not there), reads
  // them all, or polls them while the daemon runs. Throw std::runtime_error.
  virtual bool add_webhook_key(std::string_view source, const stored_webhook_key& key) = 0;
  virtual bool remove_webhook_key(std::string_view source, const std::string& public_key) = 0;
  virtual std::vector<stored_webhook_key> read_webhook_keys(std::string_view source) = 0;
  virtual webhook_key_poller poll_webhook_keys(std::string_view source) = 0;

  // Who hears of the statements of a long schema migration (by migrate() or by opening a store
  // that needs one): `migrate` prints them, the daemon logs them and tells systemd it is
  // still starting.
  void on_migration_step(migration_progress progress) { migration_progress_ = std::move(progress); }

 protected:
  migration_progress migration_progress_;
};

// The backend [storage] asks for. The one place that names an implementation.
std::unique_ptr<backend> make_backend(const config::storage_config& storage);

}  // namespace sgs::store
