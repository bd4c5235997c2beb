// libFuzzer target: arbitrary bytes to the real server over a real socket on 127.0.0.1 —
// the connection handling itself (Beast's parser under our request reader, the header rules,
// limits, routing, auth, the body read, the store's commit and the answer), not only the pure
// functions. Each input is one connection: the bytes are sent, the write side is shut, and the
// server must close the connection within 5 s. A failure the server contained (an exception
// or allocation failure in a connection) or a connection it never closed is a crash here.
//
// Sources as in request_fuzzer.cpp: "open", "basic" (user:pass), "signed" (the V1 key of
// sendgrid-api.md 9.2) and "oauth" (id:secret, token endpoint /oauth/token/oauth).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "events/signature.hpp"
#include "test_server.hpp"
#include "webhook/oauth.hpp"

namespace {

using namespace sgs;

struct fixture {
  test::temp_dir dir;
  std::unique_ptr<events::signature_verifier> verifier;
  std::unique_ptr<webhook::oauth_issuer> issuer;
  std::unique_ptr<test::test_server> server;

  fixture() {
    auto v = events::signature_verifier::from_base64_keys(
        {"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/"
         "7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="});
    verifier = std::make_unique<events::signature_verifier>(
        std::get<events::signature_verifier>(std::move(v)));
    issuer = std::make_unique<webhook::oauth_issuer>(
        webhook::oauth_client{"id", "secret", std::chrono::seconds(60)});
    std::map<std::string, webhook::source_auth> auth;
    auth["basic"].basic_auth_header = webhook::basic_auth_header("user:pass");
    auth["signed"].verifier = verifier.get();
    auth["oauth"].oauth = issuer.get();
    webhook::server_options options;
    options.max_body_bytes = 256 * 1024;
    options.header_timeout = std::chrono::seconds(2);
    options.body_timeout = std::chrono::seconds(2);
    options.idle_timeout = std::chrono::seconds(2);
    store::store_options store;
    store.synchronous_full = false;  // durability is not what is fuzzed here
    server = std::make_unique<test::test_server>(
        dir.path(), std::vector<std::string>{"open", "basic", "signed", "oauth"}, options, store,
        auth);
  }
};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "connection_fuzzer: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fixture f;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(f.server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    fail("cannot connect to the server: it is gone");
  }
  std::size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server answered and closed before reading everything: fine
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char buffer[65536];
  bool closed = false;
  for (int waited_ms = 0; waited_ms < 5000 && !closed;) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, 100);
    if (ready == 0) {
      waited_ms += 100;
      continue;
    }
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) closed = true;
  }
  ::close(fd);
  if (!closed) fail("the server kept a connection open 5 s after the client's end of input");
  if (f.server->server().contained_errors() != 0) fail("a connection failed inside the server");
  return 0;
}
