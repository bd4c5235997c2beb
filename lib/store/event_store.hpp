// The event store seam: what the webhook needs from whatever stores its batches (SQLite
// today: sqlite_event_store.hpp; PostgreSQL next: SPEC §9).
#pragma once

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "events/parse.hpp"
#include "store/counters.hpp"
#include "store/write_result.hpp"

namespace sgs::store {

// Raised when a store cannot be opened, migrated or read at start.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One source's event store, as the webhook sees it. The contract every implementation keeps:
//  1. submit() may be called from any thread and never blocks on the database; `done` is
//     called exactly once per batch, on a thread of the store.
//  2. `committed` only once every stored event of the batch is durable (2xx after commit);
//     events already stored (same sg_event_id or content fingerprint within the store's dedup
//     window) count as duplicates. Where the dedup is enforced is the implementation's
//     business: SQLite keeps a set in memory, PostgreSQL a key table with a primary key.
//  3. `failed`, `overloaded` and `closed` store nothing of the batch: SendGrid retries it.
//  4. close() answers every batch submitted before it, then refuses later ones with `closed`.
// Owned by the daemon (one per source); shared by the server's I/O threads.
class event_store {
 public:
  virtual ~event_store() = default;

  // Queues a parsed batch; `done` is called exactly once, after the commit that makes it
  // durable (or with the reason it could not be).
  virtual void submit(events::parsed_batch batch, std::chrono::system_clock::time_point received_at,
                      write_callback done) = 0;

  // Finishes queued work and stops; later submits answer `closed`. Idempotent.
  virtual void close() = 0;

  // True when the store can take batches now (its last write succeeded, or none was tried).
  virtual bool healthy() const = 0;
  // Why it is not healthy (the database's message); "" when nothing failed yet.
  virtual std::string last_error() const = 0;
  virtual const store_counters& counters() const = 0;
  // Where the events go, for log lines and status: a file path, a schema on a server.
  virtual std::string location() const = 0;

  // Keys and bytes of an in-process dedup set; 0 for stores that dedup in the database.
  virtual std::size_t dedup_keys() const { return 0; }
  virtual std::size_t dedup_bytes() const { return 0; }
};

}  // namespace sgs::store
