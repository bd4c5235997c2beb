// Per-source sync threads with interruptible waits.
#include "scheduler/scheduler.hpp"

#include <algorithm>

namespace sgs::scheduler {

std::chrono::seconds max_jitter(std::chrono::seconds interval) {
  return std::min<std::chrono::seconds>(interval / 20, std::chrono::minutes(5));
}

clock::time_point first_run_at(clock::time_point now, std::optional<clock::time_point> last_success,
                               std::chrono::seconds interval, std::chrono::seconds jitter) {
  if (!last_success || now - *last_success >= interval) return now;
  return *last_success + interval + jitter;
}

clock::time_point next_run_at(clock::time_point finished, std::chrono::seconds interval,
                              std::chrono::seconds jitter) {
  return finished + interval + jitter;
}

scheduler::scheduler(std::vector<scheduled_source> sources) : sources_(std::move(sources)) {}

scheduler::~scheduler() { stop(); }

void scheduler::start() {
  for (const auto& s : sources_) {
    threads_.emplace_back([this, &s](std::stop_token stop) { loop(stop, s); });
  }
}

void scheduler::stop() {
  for (auto& t : threads_) t.request_stop();
  threads_.clear();  // jthread joins
}

void scheduler::loop(std::stop_token stop, const scheduled_source& source) {
  std::mt19937_64 rng(std::random_device{}());
  const auto jitter = [&] {
    const auto max = max_jitter(source.interval).count();
    return std::chrono::seconds(
        max > 0 ? static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(max + 1)) : 0);
  };
  std::mutex m;
  std::condition_variable_any cv;
  auto due = first_run_at(clock::now(), source.last_success ? source.last_success() : std::nullopt,
                          source.interval, jitter());
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(m);
      // Returns early when a stop is requested; spurious wake-ups just wait again.
      cv.wait_until(lock, stop, due, [&] { return clock::now() >= due; });
    }
    if (stop.stop_requested()) return;
    source.run(stop);
    due = next_run_at(clock::now(), source.interval, jitter());
  }
}

}  // namespace sgs::scheduler
