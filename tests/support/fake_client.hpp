// A SendGrid client set up for the fake API on loopback, and a retry policy that barely waits:
// the setup shared by the tests that run the real client (sync, set-up, the store seam).
#pragma once

#include <chrono>

#include "fake_sendgrid.hpp"
#include "sendgrid/client.hpp"
#include "sendgrid/retry.hpp"

namespace sgs::test {

// The fake's base URL and a test key; timeouts short enough that a hung test fails soon.
inline sendgrid::client_options client_options_for(const fake_sendgrid& api) {
  using namespace std::chrono_literals;
  sendgrid::client_options o;
  o.api_base = api.base_url();
  o.api_key = "SG.test-key";
  o.request_timeout = 2000ms;
  o.connect_timeout = 1000ms;
  return o;
}

// `attempts` tries per call, backing off 1 ms up to `cap` (the injected sleep records it).
inline sendgrid::retry_policy quick_retries(int attempts, std::chrono::milliseconds cap) {
  sendgrid::retry_policy p;
  p.max_attempts = attempts;
  p.backoff_base = std::chrono::milliseconds(1);
  p.backoff_cap = cap;
  return p;
}

}  // namespace sgs::test
