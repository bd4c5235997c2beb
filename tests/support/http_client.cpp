// Blocking Beast client used by the integration tests, over TCP or TLS.
#include "http_client.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

#include "tls_cert.hpp"

namespace sgs::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace ssl = asio::ssl;

struct http_client::impl {
  asio::io_context ioc;
  tcp::socket socket{ioc};  // the connection when plain; unused (moved from) under TLS
  std::optional<ssl::context> tls_context;
  std::unique_ptr<beast::ssl_stream<tcp::socket>> tls;
  beast::flat_buffer buffer;
  std::uint16_t port;

  tcp::socket& lowest() { return tls ? beast::get_lowest_layer(*tls) : socket; }
  template <class F>
  decltype(auto) with_stream(F&& f) {
    if (tls) return f(*tls);
    return f(socket);
  }
  void connect() {
    beast::error_code ec;
    lowest().close(ec);
    tls.reset();
    socket = tcp::socket(ioc);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    socket.set_option(tcp::no_delay(true));
    buffer.clear();
    if (tls_context) {
      tls = std::make_unique<beast::ssl_stream<tcp::socket>>(std::move(socket), *tls_context);
      tls->set_verify_mode(ssl::verify_peer);
      tls->set_verify_callback(ssl::host_name_verification("127.0.0.1"));
      tls->handshake(ssl::stream_base::client);
    }
  }
};

http_client::http_client(std::uint16_t port) : impl_(std::make_unique<impl>()) {
  impl_->port = port;
  impl_->connect();
}

http_client::http_client(std::uint16_t port, tls_client_options options)
    : impl_(std::make_unique<impl>()) {
  impl_->port = port;
  auto& context = impl_->tls_context.emplace(ssl::context::tls_client);
  context.load_verify_file(options.trust_file.string());
  if (options.max_version != 0 && options.max_version < TLS1_2_VERSION) {
    // OpenSSL 3's default security level forbids offering TLS 1.1 at all; lower it so the
    // server, not this client, is what refuses.
    SSL_CTX_set_security_level(context.native_handle(), 0);
    SSL_CTX_set_cipher_list(context.native_handle(), "DEFAULT:@SECLEVEL=0");
  }
  if (options.min_version != 0)
    SSL_CTX_set_min_proto_version(context.native_handle(), options.min_version);
  if (options.max_version != 0)
    SSL_CTX_set_max_proto_version(context.native_handle(), options.max_version);
  impl_->connect();
}

http_client::~http_client() = default;

bool http_client::connected() const { return impl_->lowest().is_open(); }

bool http_client::closed_by_server() const {
  if (!impl_->lowest().is_open()) return false;
  char byte;
  const ssize_t n = ::recv(impl_->lowest().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

std::string http_client::peer_certificate_sha256() const {
  if (!impl_->tls) return {};
  X509* cert = SSL_get1_peer_certificate(impl_->tls->native_handle());
  if (cert == nullptr) return {};
  std::string out = certificate_sha256(cert);
  X509_free(cert);
  return out;
}

http_response http_client::request(const std::string& method, const std::string& target,
                                   const std::string& body,
                                   const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  if (!impl_->lowest().is_open()) impl_->connect();
  beast::error_code ec;
  impl_->with_stream([&](auto& stream) { http::write(stream, req, ec); });
  if (ec) {  // the server closed the idle connection: reconnect once
    impl_->connect();
    impl_->with_stream([&](auto& stream) { http::write(stream, req); });
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  impl_->with_stream([&](auto& stream) { http::read(stream, impl_->buffer, parser); });
  auto res = parser.release();
  http_response out;
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
  if (!res.keep_alive()) {
    impl_->lowest().close(ec);
  }
  return out;
}

std::string http_client::raw_exchange(const std::string& bytes, int timeout_ms) {
  if (!impl_->socket.is_open()) impl_->connect();
  asio::write(impl_->socket, asio::buffer(bytes));
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  impl_->socket.non_blocking(true);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    beast::error_code ec;
    std::size_t n = impl_->socket.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (ec) break;  // closed by the server
    out.append(buf, n);
  }
  impl_->socket.non_blocking(false);
  beast::error_code ec;
  impl_->socket.close(ec);
  return out;
}

}  // namespace sgs::test
