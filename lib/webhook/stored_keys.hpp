// Signed-webhook keys that can change while the daemon runs: the ones `webhook configure`
// stores in the source's database, picked up without a restart.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/signature.hpp"

namespace sgs::webhook {

// Holds the current verifier built from the stored keys and refreshes it from `load`, at
// most once per `refresh_interval`, on the request path. Shared by every connection of a
// source; thread-safe.
//
// Invariants:
//  1. The constructor loads once, so the first request already sees every key stored before
//     the daemon started: no window in which a source with a stored key accepts unsigned
//     posts at start.
//  2. A caller for which the interval has passed never gets a snapshot older than its own
//     call: a key committed before current() was called is in what it returns (for
//     `webhook configure`'s "used within a second", and for the test batch SendGrid posts
//     right after it). A refresh is done by one thread at a time; a caller that finds one in
//     progress waits for it (one read of a small table, the reader's busy timeout is 100 ms)
//     and, when that refresh started after its own call, takes its result instead of
//     reading again. Not done: returning the old snapshot at once while another thread
//     refreshes (what try_lock did) -- that returned "no key" for up to one read after the
//     key was stored, to whichever request or caller came second.
//  3. A failed load keeps the previous keys (a locked or briefly unreadable file must not
//     turn verification off) and is reported once per distinct error through `on_error`.
// Trade-off: a key stored while the daemon runs is used within refresh_interval (1 s), not
// at once; re-reading on every signature miss would let forged posts drive database reads.
class stored_keys {
 public:
  // Returns the stored keys (base64) when they may have changed, nullopt when they cannot
  // have (store::webhook_key_reader::read_if_changed). May throw std::exception.
  using loader = std::function<std::optional<std::vector<std::string>>()>;
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;

  stored_keys(
      loader load, std::function<void(std::string_view)> on_error,
      std::chrono::milliseconds refresh_interval = std::chrono::seconds(1),
      clock_fn now = [] { return std::chrono::steady_clock::now(); });

  // The verifier for the current keys (refreshed first when the interval has passed);
  // nullptr when no key is stored.
  std::shared_ptr<const events::signature_verifier> current();

  std::size_t key_count() const;

 private:
  void refresh();
  // The interval has passed between the last refresh's start and `called`.
  bool refresh_due(std::chrono::steady_clock::time_point called) const;

  loader load_;
  std::function<void(std::string_view)> on_error_;
  std::chrono::milliseconds interval_;
  clock_fn now_;

  std::mutex refresh_mutex_;  // held by the one thread refreshing
  // When the last refresh started; written under both mutexes, read under either.
  std::chrono::steady_clock::time_point last_check_;
  std::vector<std::string> keys_;  // what the snapshot was built from
  std::string last_error_;

  mutable std::mutex snapshot_mutex_;  // guards the pointer only, never held across I/O
  std::shared_ptr<const events::signature_verifier> snapshot_;
  std::size_t snapshot_keys_ = 0;
};

}  // namespace sgs::webhook
