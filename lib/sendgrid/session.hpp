// API calls with the retry policy applied: 429 waits for the rate-limit window, 5xx and
// timeouts back off and retry (bounded), everything else is returned to the caller at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include "sendgrid/client.hpp"
#include "sendgrid/retry.hpp"

namespace sgs::sendgrid {

// What a session needs from the world, injected so tests never sleep for real.
struct session_env {
  // Sleeps for the duration; returns false when a stop was requested (the caller gives up).
  std::function<bool(std::chrono::milliseconds)> sleep;
  std::function<std::chrono::system_clock::time_point()> now;
  std::function<double()> random01;  // uniform in [0, 1)
  // Told about each wait before it starts ("rate limited by GET /v3/...: waiting 7s"), for
  // progress and logs. May be empty.
  std::function<void(std::string_view)> notice;
};

struct call_stats {
  std::int64_t http_retries = 0;
  std::int64_t rate_limit_waits = 0;
  std::chrono::milliseconds rate_limit_waited{0};  // the time those waits took, as planned
};

struct call_result {
  failure_kind kind = failure_kind::permanent;  // none = success (2xx)
  response res;                                 // the last attempt's response
  std::string error;  // for failures: one sentence (not for auth: see errors.hpp)
  bool ok() const { return kind == failure_kind::none; }
};

// Not thread-safe; one per sync thread, like the client it uses.
class api_session {
 public:
  api_session(api_client& client, retry_policy policy, session_env env);
  call_result get(std::string_view url);
  call_result post_json(std::string_view url, std::string_view body);
  call_result patch_json(std::string_view url, std::string_view body);
  // Counters since the last take_stats(), for the collection's sync_runs row.
  call_stats take_stats();
  // Waits with the session's sleeper (used between export polls); false when stopped.
  bool sleep(std::chrono::milliseconds d) { return env_.sleep(d); }
  std::chrono::system_clock::time_point now() const { return env_.now(); }
  double random01() const { return env_.random01(); }
  const retry_policy& policy() const { return policy_; }
  api_client& client() { return client_; }
  void notice(std::string_view text) const {
    if (env_.notice) env_.notice(text);
  }

 private:
  call_result call(std::string_view method, std::string_view url, std::string_view body);

  api_client& client_;
  retry_policy policy_;
  session_env env_;
  call_stats stats_;
};

// The text of a failed transfer: "timeout after 60000 ms on GET /v3/...: <libcurl message>".
std::string transport_failure_message(std::string_view method, std::string_view url,
                                      const response& res);

// The real world for a session: sleeps that end early when `stop` is requested, the system
// clock, a seeded random source.
session_env real_session_env(std::stop_token stop);

}  // namespace sgs::sendgrid
