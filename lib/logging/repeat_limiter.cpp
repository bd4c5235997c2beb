// The repeat limiter's bookkeeping.
#include "logging/repeat_limiter.hpp"

namespace sgs::logging {

repeat_limiter::repeat_limiter(std::chrono::seconds interval,
                               std::function<clock::time_point()> now, std::size_t max_keys)
    : interval_(interval), now_(std::move(now)), max_keys_(max_keys) {}

repeat_limiter::verdict repeat_limiter::allow(std::string_view key) {
  const auto now = now_();
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) {
      // Forget keys whose interval is over and that hold no count, so the map stays bounded
      // whatever the keys are (e.g. one per unknown source name in 404s).
      std::erase_if(entries_, [&](const auto& kv) {
        return kv.second.suppressed == 0 && now - kv.second.last_logged >= interval_;
      });
      // Still full: counted under one shared key, so endless new keys cannot flood the log.
      if (entries_.size() >= max_keys_) {
        auto [at, inserted] = entries_.try_emplace(std::string(overflow_key), entry{now, 0});
        if (inserted) return {true, 0, {}};
        it = at;
      }
    }
    if (it == entries_.end()) {
      entries_.emplace(std::string(key), entry{now, 0});
      return {true, 0, {}};
    }
  }
  entry& e = it->second;
  if (now - e.last_logged < interval_) {
    ++e.suppressed;
    return {false, 0, {}};
  }
  verdict v{true, e.suppressed,
            std::chrono::duration_cast<std::chrono::seconds>(now - e.last_logged)};
  e.last_logged = now;
  e.suppressed = 0;
  return v;
}

std::string repeat_limiter::suffix(const verdict& v) {
  if (v.repeats == 0) return {};
  return " (repeated " + std::to_string(v.repeats) + (v.repeats == 1 ? " time" : " times") +
         " in the last " + std::to_string(v.window.count()) + " s)";
}

}  // namespace sgs::logging
