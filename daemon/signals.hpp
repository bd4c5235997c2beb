// The signals `run` answers: SIGHUP reloads; the first SIGTERM/SIGINT drains, a second one
// exits at once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>

namespace sgs::daemon {

// Waits for signals on the io_context; the callbacks run on an I/O thread. Owned by cmd_run;
// the callbacks must stay valid until the io_context has stopped running.
class signal_handlers {
 public:
  explicit signal_handlers(boost::asio::io_context& ioc);

  // Calls `reload` for every SIGHUP until the first stop signal.
  void on_hangup(std::function<void()> reload);
  // Calls `drain(signo)` once, for the first SIGTERM or SIGINT: after it no SIGHUP is
  // handled, and a second SIGTERM/SIGINT ends the process at once with exit code 1.
  // Acknowledged events are durable by then (2xx only after commit); requests in flight get
  // no answer, and SendGrid retries them.
  void on_stop(std::function<void(int signo)> drain);

 private:
  void await_hangup();

  boost::asio::signal_set hangup_;
  boost::asio::signal_set stop_;
  std::function<void()> reload_;
  std::function<void(int)> drain_;
};

}  // namespace sgs::daemon
