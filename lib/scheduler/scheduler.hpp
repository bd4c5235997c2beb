// Runs each source's sync every sync_interval on its own thread: at start when the last
// success is older than the interval, then every interval with a little jitter.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace sgs::scheduler {

using clock = std::chrono::system_clock;

// Jitter so that several sources (or several daemons) do not hit the API in lockstep: up to
// 1/20 of the interval, at most 5 minutes.
std::chrono::seconds max_jitter(std::chrono::seconds interval);

// When a source's first run should start: now when it never succeeded or its last success
// is at least one interval old; else one interval after that success (plus jitter).
clock::time_point first_run_at(clock::time_point now, std::optional<clock::time_point> last_success,
                               std::chrono::seconds interval, std::chrono::seconds jitter);

// When the next run starts after one finished.
clock::time_point next_run_at(clock::time_point finished, std::chrono::seconds interval,
                              std::chrono::seconds jitter);

struct scheduled_source {
  std::string name;
  std::chrono::seconds interval{3 * 3600};
  // The oldest last success among the source's collections; nullopt when one never succeeded.
  std::function<std::optional<clock::time_point>()> last_success;
  // One run; must return soon after `stop` is requested (between transactions).
  std::function<void(std::stop_token stop)> run;
};

// One thread per source, so a source never runs twice at once and a slow source does not
// delay another; the webhook never waits for any of them. stop() (or destruction) requests
// a stop of running syncs and joins the threads.
class scheduler {
 public:
  explicit scheduler(std::vector<scheduled_source> sources);
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  void start();
  void stop();

 private:
  void loop(std::stop_token stop, const scheduled_source& source);
  std::vector<scheduled_source> sources_;
  std::vector<std::jthread> threads_;
};

}  // namespace sgs::scheduler
