// systemd's notify protocol for `run`: readiness, reload, stop, and the watchdog timer.
#include "watchdog.hpp"

#include <systemd/sd-daemon.h>

#include <boost/asio/post.hpp>
#include <ctime>

namespace sgs::daemon {

void notify_ready(const std::string& host, unsigned port) {
  sd_notifyf(0, "READY=1\nSTATUS=listening on %s:%u", host.c_str(), port);
}

void notify_reloading() {
  // MONOTONIC_USEC lets systemd (253+) match the READY=1 of notify_reloaded to this reload.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
             static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                 static_cast<unsigned long long>(now.tv_nsec) / 1000ULL);
}

void notify_reloaded() { sd_notify(0, "READY=1"); }

void notify_stopping() { sd_notify(0, "STOPPING=1"); }

void notify_still_starting(std::chrono::seconds more) {
  sd_notifyf(
      0, "EXTEND_TIMEOUT_USEC=%lld",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(more).count()));
}

watchdog::watchdog(boost::asio::io_context& ioc) : timer_(boost::asio::make_strand(ioc)) {}

void watchdog::start() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  // Twice per period, as sd_watchdog_enabled(3) recommends: one late wake-up is not a restart.
  interval_ = std::chrono::microseconds(usec / 2);
  feed();
}

void watchdog::feed() {
  if (stopping_) return;
  sd_notify(0, "WATCHDOG=1");
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) feed();
  });
}

void watchdog::stop() {
  stopping_ = true;
  boost::asio::post(timer_.get_executor(), [this] { timer_.cancel(); });
}

}  // namespace sgs::daemon
