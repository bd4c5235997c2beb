// Blocking Beast client used by the integration tests.
#include "http_client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace sgs::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct http_client::impl {
  asio::io_context ioc;
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;
  std::uint16_t port;
  void connect() {
    beast::error_code ec;
    socket.close(ec);
    socket = tcp::socket(ioc);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    socket.set_option(tcp::no_delay(true));
    buffer.clear();
  }
};

http_client::http_client(std::uint16_t port) : impl_(std::make_unique<impl>()) {
  impl_->port = port;
  impl_->connect();
}

http_client::~http_client() = default;

bool http_client::connected() const { return impl_->socket.is_open(); }

http_response http_client::request(const std::string& method, const std::string& target,
                                   const std::string& body,
                                   const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  if (!impl_->socket.is_open()) impl_->connect();
  beast::error_code ec;
  http::write(impl_->socket, req, ec);
  if (ec) {  // the server closed the idle connection: reconnect once
    impl_->connect();
    http::write(impl_->socket, req);
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  http::read(impl_->socket, impl_->buffer, parser);
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
    impl_->socket.close(ec);
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
