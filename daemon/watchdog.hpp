// systemd's notify protocol for `run` (Type=notify): ready, reloading, stopping, and the
// watchdog fed from the I/O loop. Every call is a no-op outside systemd (no $NOTIFY_SOCKET).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <string>

namespace sgs::daemon {

// READY=1 with a STATUS line naming the listener.
void notify_ready(const std::string& host, unsigned port);
// RELOADING=1 (SIGHUP), then notify_reloaded() when the reload is done.
void notify_reloading();
void notify_reloaded();
// STOPPING=1: the first SIGTERM/SIGINT, while draining.
void notify_stopping();
// EXTEND_TIMEOUT_USEC: still starting (a long schema migration); asks for `more` again.
void notify_still_starting(std::chrono::seconds more);

// Sends WATCHDOG=1 every half of WatchdogSec from a timer on the I/O loop, so a wedged loop
// gets the service restarted. Owned by cmd_run and outlives the io_context's run; start() and
// stop() may be called from any I/O thread.
class watchdog {
 public:
  explicit watchdog(boost::asio::io_context& ioc);
  // Starts feeding when systemd asked for a watchdog (WATCHDOG_USEC); otherwise does nothing.
  void start();
  // Stops feeding, so the timer no longer keeps the io_context (and the process) alive.
  void stop();

 private:
  void feed();

  // On a strand: stop() cancels from another I/O thread. `stopping_` ends the feeding even
  // when the cancel comes after the timer fired (its handler already queued): a timer
  // re-armed after the stop kept the io_context, and so the process, alive.
  boost::asio::steady_timer timer_;
  std::chrono::microseconds interval_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace sgs::daemon
