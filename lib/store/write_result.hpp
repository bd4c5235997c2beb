// What a store answers for one submitted webhook batch, and the callback that carries it.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace sgs::store {

// The outcome of one submitted batch. Every store implementation answers with one of these,
// exactly once per batch; the webhook maps it to an HTTP answer (webhook::reply_for).
struct write_result {
  enum class outcome {
    committed,   // durable: every event stored or known duplicate, rejects kept
    failed,      // the transaction failed (disk full, I/O error, locked): nothing of it stored
    overloaded,  // refused before trying: the writer's queue is full
    closed,      // refused: the store is shutting down
  };
  outcome status = outcome::failed;
  std::size_t stored = 0;
  std::size_t duplicates = 0;
  std::size_t rejected = 0;
  std::string error;  // for failed: what the database said, e.g. "database or disk is full"
};

// Called once per submitted batch, on a thread of the store: must be quick (post the result
// to the caller's executor).
using write_callback = std::function<void(const write_result&)>;

}  // namespace sgs::store
