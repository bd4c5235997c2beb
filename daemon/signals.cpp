// SIGHUP -> reload; first SIGTERM/SIGINT -> drain; second -> exit at once.
#include "signals.hpp"

#include <unistd.h>

#include <csignal>

#include "exit_codes.hpp"

namespace sgs::daemon {

namespace {

// The second SIGTERM/SIGINT, while the first one is draining. Only async-signal-safe calls.
extern "C" void exit_on_second_signal(int) {
  static const char message[] =
      "sendgrid-source: second signal: exiting at once, without finishing the requests in "
      "flight\n";
  [[maybe_unused]] auto n = write(STDERR_FILENO, message, sizeof message - 1);
  _exit(exit_runtime);
}

}  // namespace

signal_handlers::signal_handlers(boost::asio::io_context& ioc)
    : hangup_(ioc, SIGHUP), stop_(ioc, SIGINT, SIGTERM) {}

void signal_handlers::on_hangup(std::function<void()> reload) {
  reload_ = std::move(reload);
  await_hangup();
}

void signal_handlers::await_hangup() {
  hangup_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;  // cancelled by the stop signal
    reload_();
    await_hangup();
  });
}

void signal_handlers::on_stop(std::function<void(int)> drain) {
  drain_ = std::move(drain);
  stop_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    // The signal sets must let go of their signals, or the io_context would never run out of
    // work; from now on the kernel delivers SIGTERM/SIGINT to exit_on_second_signal.
    boost::system::error_code ignored;
    hangup_.cancel(ignored);
    stop_.clear(ignored);
    struct sigaction second {};
    second.sa_handler = exit_on_second_signal;
    sigemptyset(&second.sa_mask);
    sigaction(SIGTERM, &second, nullptr);
    sigaction(SIGINT, &second, nullptr);
    drain_(signo);
  });
}

}  // namespace sgs::daemon
