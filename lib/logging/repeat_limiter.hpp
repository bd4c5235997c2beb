// Logs a repeated error once per interval with a count, instead of once per occurrence.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace sgs::logging {

// Decides, per key (e.g. "storage failure of source shop"), whether an occurrence is logged:
// the first is; later ones within `interval` of the last logged line are only counted; the
// first one after the interval is logged with how many were not. Pure apart from the
// injected clock. Thread-safe (one mutex; called once per failure, never on a success path).
//
// Not done: a timer that flushes counts when a burst stops. The next occurrence carries the
// count, and a burst that stops for good has already been logged once at its start.
class repeat_limiter {
 public:
  using clock = std::chrono::steady_clock;

  struct verdict {
    bool log = false;
    std::uint64_t repeats = 0;       // occurrences not logged since the last logged line
    std::chrono::seconds window{0};  // time since that line
  };

  explicit repeat_limiter(
      std::chrono::seconds interval,
      std::function<clock::time_point()> now = [] { return clock::now(); },
      std::size_t max_keys = 1024);

  verdict allow(std::string_view key);

  // " (repeated 532 times in the last 60 s)" when repeats > 0, else "".
  static std::string suffix(const verdict& v);

  // Where occurrences of new keys are counted while the table is full (max_keys distinct keys
  // within one interval): they share one line per interval.
  static constexpr std::string_view overflow_key = "\x01(too many distinct keys)";

 private:
  struct entry {
    clock::time_point last_logged;
    std::uint64_t suppressed = 0;
  };
  std::chrono::seconds interval_;
  std::function<clock::time_point()> now_;
  std::size_t max_keys_;
  std::mutex mutex_;
  std::map<std::string, entry, std::less<>> entries_;
};

}  // namespace sgs::logging
