// The HTTP server: accepts connections, reads requests with limits and timeouts, routes
// webhook POSTs to the parser and the source's store, answers after the commit.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "metrics/sync_metrics.hpp"
#include "store/event_store.hpp"
#include "webhook/auth.hpp"
#include "webhook/tls.hpp"

namespace sgs::webhook {

struct listen_address {
  std::string host;
  std::uint16_t port = 0;  // 0 = any free port
};

// Limits not listed here are fixed and documented in SECURITY.md: 16 KiB of request line and
// header fields, a 64 KiB read buffer per connection (bounds chunk-size lines and trailers),
// no trailer fields, 64 KiB bodies outside the webhook route, and 32 x max_body_bytes of
// request bodies held by all connections together.
struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = any free port; see server::port()
  // When set, /healthz and /metrics are served only there (plain HTTP) and 404 on the public
  // listener; see server::admin_port().
  std::optional<listen_address> admin_listen;
  std::uint64_t max_body_bytes = 8 * 1024 * 1024;
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds body_timeout{30};
  std::chrono::seconds idle_timeout{60};
  std::uint32_t max_connections = 512;
  std::uint32_t max_events_per_request = 50000;
  // The sync's figures, added to /metrics and to each source in /healthz; may be null. Must
  // outlive the server.
  const metrics::sync_metrics* sync_metrics = nullptr;
  // HTTPS when set: every connection must complete a TLS 1.2+ handshake within
  // handshake_timeout before its request headers are read; plain HTTP gets a 400.
  std::optional<tls_files> tls;
  std::chrono::seconds handshake_timeout{10};
};

// A configured source as the server sees it. The store is owned elsewhere and must outlive
// the server.
struct source_endpoint {
  std::string name;
  store::event_store* store = nullptr;
  source_auth auth;  // basic auth and signature requirements; none by default
};

// Runs on the executor it is given (an io_context run by one or more threads); every
// connection runs on its own strand. Not copyable; start() once, stop() from any thread.
class server {
 public:
  server(boost::asio::any_io_executor executor, server_options options,
         std::map<std::string, source_endpoint, std::less<>> sources);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Loads the TLS files (when configured), binds and listens. Throws std::system_error
  // naming the address when it cannot listen, std::runtime_error naming the file when the
  // certificate or key does not load.
  void start();
  // The port actually bound (useful with port 0).
  std::uint16_t port() const;
  // The admin listener's port; 0 when server_options::admin_listen is not set.
  std::uint16_t admin_port() const;
  // Connections that failed inside the server (an exception or allocation failure) and were
  // closed; also sgs_http_contained_errors_total in /metrics.
  std::uint64_t contained_errors() const;
  // Stops accepting and closes idle connections; requests in flight finish (their commit
  // and their answer) before their connection closes. Thread-safe, idempotent.
  void stop();
  // Replaces a source's authentication requirements (SIGHUP reload). Requests that already
  // passed the check keep the old ones; every later request uses the new ones. The pointer
  // keeps alive whatever `auth` refers to (the verifier: use the aliasing constructor).
  // Thread-safe; false when no such source is configured.
  bool set_auth(std::string_view source, std::shared_ptr<const source_auth> auth);
  // Loads the TLS files again and serves new connections with them; connections already
  // open keep the certificate they started with. nullopt on success, else why it failed
  // (the previous certificate stays in use). Thread-safe; for SIGHUP after a renewal.
  std::optional<std::string> reload_tls();

  struct state;

 private:
  std::shared_ptr<state> state_;
};

// Runs `ioc` until it stops. An exception that escapes a handler (none should: connections
// contain their own) is logged, rate-limited, and the loop goes on: one request must never end
// the process.
void run_contained(boost::asio::io_context& ioc);

}  // namespace sgs::webhook
