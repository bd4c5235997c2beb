// Retry classification, X-RateLimit-Reset interpretation and backoff (pure).
#include "sendgrid/retry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace sgs::sendgrid {

failure_kind classify(transport_status transport, int http_status) {
  switch (transport) {
    case transport_status::ok:
      break;
    case transport_status::timeout:
    case transport_status::network:
      return failure_kind::transient;
    case transport_status::aborted:
      return failure_kind::aborted;
    case transport_status::too_large:
    case transport_status::fatal:
      return failure_kind::permanent;
  }
  if (http_status >= 200 && http_status < 300) return failure_kind::none;
  if (http_status == 429) return failure_kind::rate_limited;
  if (http_status == 401 || http_status == 403) return failure_kind::auth;
  // 408 Request Timeout is the server's way of saying "try again" (contact search uses it).
  if (http_status >= 500 || http_status == 408) return failure_kind::transient;
  return failure_kind::permanent;
}

std::optional<std::chrono::milliseconds> rate_limit_wait(std::string_view reset_header,
                                                         std::chrono::system_clock::time_point now,
                                                         std::chrono::milliseconds cap) {
  while (!reset_header.empty() && reset_header.front() == ' ') reset_header.remove_prefix(1);
  while (!reset_header.empty() && reset_header.back() == ' ') reset_header.remove_suffix(1);
  std::int64_t value = 0;
  auto [end, ec] =
      std::from_chars(reset_header.data(), reset_header.data() + reset_header.size(), value);
  // A fractional part ("1392815263.5") is allowed and ignored; anything else is garbage.
  if (ec != std::errc{} || value < 0 ||
      (end != reset_header.data() + reset_header.size() && *end != '.')) {
    return std::nullopt;
  }
  using namespace std::chrono;
  milliseconds wait;
  if (value > 1'000'000'000) {
    const auto reset = system_clock::time_point(seconds(value));
    wait = duration_cast<milliseconds>(reset - now);
  } else {
    wait = duration_cast<milliseconds>(seconds(value));
  }
  return std::clamp(wait, std::min(milliseconds(1000), cap), cap);
}

std::chrono::milliseconds backoff_delay(int retry, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, double random01) {
  using std::chrono::milliseconds;
  const int shift = std::clamp(retry - 1, 0, 30);
  const double full = std::min(static_cast<double>(cap.count()),
                               static_cast<double>(base.count()) * std::ldexp(1.0, shift));
  const double r = std::clamp(random01, 0.0, 1.0);
  return milliseconds(static_cast<std::int64_t>(full / 2 + r * full / 2));
}

}  // namespace sgs::sendgrid
