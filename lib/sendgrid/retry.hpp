// Pure retry decisions for SendGrid API calls: what failed, whether to retry, how long to wait.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace sgs::sendgrid {

// How a transfer ended below HTTP (filled from libcurl's result by the client).
enum class transport_status {
  ok,         // an HTTP response arrived (any status)
  timeout,    // connect or total timeout
  network,    // connection refused/reset, DNS failure, TLS handshake failure: may pass
  aborted,    // we stopped it (shutdown, or the sink refused more data)
  too_large,  // the response exceeded the size limit
  fatal,      // will not pass by retrying: bad URL, certificate rejected, unsupported protocol
};

// What a call's outcome means for the caller.
enum class failure_kind {
  none,          // 2xx
  rate_limited,  // 429: wait for the rate-limit window, then retry
  transient,     // 5xx, timeout, network error: retry with backoff, bounded
  auth,          // 401 or 403: the key is rejected or lacks a permission; retrying cannot help
  permanent,     // other 4xx, too large, fatal transport error: do not retry
  aborted,       // stopped by us
};

// The retry table (Vector's HTTP sources: 429 and 5xx yes, other 4xx no).
failure_kind classify(transport_status transport, int http_status);

// The wait that X-RateLimit-Reset asks for. SendGrid documents it both as the UNIX time the
// window resets (general rate-limit docs: 1392815263) and as the seconds until it resets
// (newer endpoints): a value above 1e9 can only be an epoch (1e9 seconds is 31 years), so it
// is read as one; anything smaller is a delay. The result is at least 1 s (windows reset on
// whole seconds: asking again at once would just spend a request) and at most `cap`.
// nullopt when the header is absent or not a number, so the caller falls back to backoff.
std::optional<std::chrono::milliseconds> rate_limit_wait(std::string_view reset_header,
                                                         std::chrono::system_clock::time_point now,
                                                         std::chrono::milliseconds cap);

// Capped exponential backoff with "equal jitter": the n-th retry (1-based) waits between half
// and all of min(cap, base * 2^(n-1)). `random01` in [0, 1) comes from the caller, so the
// function stays pure and tests are exact. Half is kept fixed so retries never bunch near
// zero; the random half spreads several daemons hitting one account.
std::chrono::milliseconds backoff_delay(int retry, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, double random01);

struct retry_policy {
  int max_attempts = 6;  // per call, for transient failures
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{60000};
  int max_rate_limit_waits = 30;  // per call
  std::chrono::milliseconds max_rate_limit_wait{120000};
};

}  // namespace sgs::sendgrid
