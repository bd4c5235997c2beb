// The fixture of the sync's integration tests: the real libcurl client and sync against the
// fake SendGrid API on 127.0.0.1, a real SQLite object store in a temp dir, injected clock
// and waits (recorded, never slept).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fake_sendgrid.hpp"
#include "sendgrid/client.hpp"
#include "sendgrid/retry.hpp"
#include "store/object_store.hpp"
#include "sync/sync_source.hpp"
#include "test_server.hpp"

namespace sgs::test {

class sync_fixture : public ::testing::Test {
 protected:
  // 2026-01-01T00:00:00Z: the clock of the sync and of the session until a test moves it.
  static constexpr std::chrono::seconds start_time{1767225600};

  // A store at dir/default.db, a client on the fake (fake_client.hpp: 2 s per request),
  // retries barely waiting (3 attempts, 1-4 ms backoff) and options.now reading `now`.
  sync_fixture();

  // sync_source over a fresh session; `only` replaces options.collections when not empty.
  sync::source_result run_sync(std::vector<store::collection> only = {});

  // A query's rows as text (test_server.hpp's query_text) on dir/default.db.
  std::string q(const std::string& sql);

  temp_dir dir;
  fake_sendgrid api;
  std::unique_ptr<store::object_store> store;
  sendgrid::client_options client_options;
  sendgrid::retry_policy policy;
  sync::sync_options options;
  std::chrono::system_clock::time_point now{start_time};
  std::mutex mutex;  // guards waits (the session may sleep on other threads)
  std::vector<std::chrono::milliseconds> waits;
};

}  // namespace sgs::test
