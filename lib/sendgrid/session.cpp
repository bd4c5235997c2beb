// The retry loop around api_client, driven by the pure decisions in retry.hpp.
#include "sendgrid/session.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>

#include "sendgrid/errors.hpp"

namespace sgs::sendgrid {

namespace {

std::string path_of(std::string_view url) {
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
    auto path = url.find('/', scheme + 3);
    url = path == std::string_view::npos ? std::string_view("/") : url.substr(path);
  }
  return std::string(url.substr(0, url.find('?')));
}

std::string seconds_text(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace

std::string transport_failure_message(std::string_view method, std::string_view url,
                                      const response& res) {
  std::string what;
  switch (res.transport) {
    case transport_status::timeout:
      what = "timed out";
      break;
    case transport_status::network:
      what = "network error";
      break;
    case transport_status::aborted:
      what = "stopped";
      break;
    case transport_status::too_large:
      what = "response too large";
      break;
    case transport_status::fatal:
      what = "request failed";
      break;
    case transport_status::ok:
      what = "ok";
      break;
  }
  return what + " on " + std::string(method) + " " + path_of(url) +
         (res.transport_error.empty() ? "" : ": " + res.transport_error);
}

api_session::api_session(api_client& client, retry_policy policy, session_env env)
    : client_(client), policy_(policy), env_(std::move(env)) {}

call_result api_session::get(std::string_view url) { return call("GET", url, {}); }

call_result api_session::post_json(std::string_view url, std::string_view body) {
  return call("POST", url, body);
}

call_result api_session::patch_json(std::string_view url, std::string_view body) {
  return call("PATCH", url, body);
}

call_stats api_session::take_stats() {
  call_stats s = stats_;
  stats_ = {};
  return s;
}

call_result api_session::call(std::string_view method, std::string_view url,
                              std::string_view body) {
  int attempts = 0;
  int rate_limit_waits = 0;
  while (true) {
    ++attempts;
    call_result r;
    r.res = method == "POST"    ? client_.post_json(url, body)
            : method == "PATCH" ? client_.patch_json(url, body)
                                : client_.get(url);
    r.kind = classify(r.res.transport, r.res.status);
    const std::string what = r.res.transport == transport_status::ok
                                 ? http_failure_message(method, url, r.res.status, r.res.body)
                                 : transport_failure_message(method, url, r.res);
    switch (r.kind) {
      case failure_kind::none:
        return r;
      case failure_kind::auth:
      case failure_kind::permanent:
      case failure_kind::aborted:
        r.error = what;
        return r;
      case failure_kind::rate_limited: {
        if (rate_limit_waits >= policy_.max_rate_limit_waits) {
          r.error =
              what + " (still rate limited after " + std::to_string(rate_limit_waits) + " waits)";
          return r;
        }
        ++rate_limit_waits;
        ++stats_.rate_limit_waits;
        auto wait =
            rate_limit_wait(r.res.rate_limit_reset, env_.now(), policy_.max_rate_limit_wait);
        if (!wait)
          wait = backoff_delay(rate_limit_waits, policy_.backoff_base, policy_.backoff_cap,
                               env_.random01());
        stats_.rate_limit_waited += *wait;
        notice("rate limited on " + path_of(url) + ": waiting " + seconds_text(*wait));
        if (!env_.sleep(*wait)) {
          r.kind = failure_kind::aborted;
          r.error = "stopped while waiting for the rate limit";
          return r;
        }
        continue;
      }
      case failure_kind::transient: {
        if (attempts >= policy_.max_attempts) {
          r.error = what + " (gave up after " + std::to_string(attempts) + " attempts)";
          return r;
        }
        ++stats_.http_retries;
        const auto wait =
            backoff_delay(attempts, policy_.backoff_base, policy_.backoff_cap, env_.random01());
        notice(what + ": retrying in " + seconds_text(wait));
        if (!env_.sleep(wait)) {
          r.kind = failure_kind::aborted;
          r.error = "stopped while waiting to retry";
          return r;
        }
        continue;
      }
    }
  }
}

session_env real_session_env(std::stop_token stop) {
  session_env env;
  env.sleep = [stop](std::chrono::milliseconds d) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    // Returns true early only when a stop was requested.
    cv.wait_for(lock, stop, d, [] { return false; });
    return !stop.stop_requested();
  };
  env.now = [] { return std::chrono::system_clock::now(); };
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
  env.random01 = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
  return env;
}

}  // namespace sgs::sendgrid
