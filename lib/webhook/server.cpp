// Beast/Asio server: accept loop, one coroutine per connection, limits and timeouts, and
// the await on the store's commit. The only translation unit of lib/webhook with Beast.
//
// Plain and TLS connections run the same coroutines, templated on the connection type; only
// opening (TLS: detect, handshake) and closing (TLS: close_notify) differ. Every limit and
// timeout is set on the TCP layer underneath, so it holds for both.
#include "webhook/server.hpp"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <set>
#include <stdexcept>
#include <system_error>
#include <type_traits>

#include "events/parse.hpp"
#include "logging/log.hpp"
#include "logging/repeat_limiter.hpp"
#include "text/iso8601.hpp"
#include "webhook/intake.hpp"
#include "webhook/metrics.hpp"
#include "webhook/oauth.hpp"
#include "webhook/request_rules.hpp"
#include "webhook/routes.hpp"

namespace sgs::webhook {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Everything a client can make one connection hold, besides the body (whose limit depends on
// the route): the read buffer bounds a chunk-size line, a chunk extension and the trailer
// section, none of which Beast limits by itself; the header limit bounds the request line and
// header fields.
constexpr std::size_t read_buffer_bytes = 64 * 1024;
constexpr std::uint32_t header_bytes = 16 * 1024;
// Bodies of routes other than the webhook (the OAuth token form): small by nature.
constexpr std::uint64_t small_body_bytes = 64 * 1024;

// Bytes of request bodies held by all connections at once, checked as they arrive, so that
// many connections each under max_body_bytes still cannot hold unbounded memory together.
class body_budget {
 public:
  explicit body_budget(std::uint64_t limit) : limit_(limit) {}
  bool take(std::uint64_t n) {
    if (held_.fetch_add(n, std::memory_order_relaxed) + n > limit_) {
      held_.fetch_sub(n, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void give_back(std::uint64_t n) { held_.fetch_sub(n, std::memory_order_relaxed); }
  std::uint64_t limit() const { return limit_; }

 private:
  std::uint64_t limit_;
  std::atomic<std::uint64_t> held_{0};
};

// Reads one request into a header and a string body, within our limits, and refuses what we
// do not accept while parsing (trailer fields). Beast calls these callbacks from inside its
// composed read operations, outside the connection's coroutine: an exception thrown there
// would leave io_context::run() and end the process, so every callback catches and turns it
// into an error code. Owned by one connection's coroutine; not shared.
class request_reader final : public http::basic_parser<true> {
 public:
  enum class refusal { none, trailer, memory, budget, exception };

  explicit request_reader(body_budget& budget) : budget_(budget) {
    header_limit(header_bytes);
    // The body limit is set per route once the header is in (Beast would otherwise fail the
    // header read itself on a large Content-Length, before we can answer 413).
    body_limit(boost::none);
    eager(true);
  }
  ~request_reader() override { budget_.give_back(held_); }
  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  http::request_header<>& head() { return head_; }
  std::string& body() { return body_; }
  refusal refused() const { return refused_; }
  // The header's fields, as the pure request rules take them; views into head().
  std::vector<header_field> fields() const {
    std::vector<header_field> out;
    for (const auto& f : head_) out.push_back({f.name_string(), f.value()});
    return out;
  }

 private:
  void refuse(refusal why, beast::error_code& ec) {
    refused_ = why;
    ec = http::error::bad_field;  // any error ends the read; refused() says which
  }
  bool hold(std::size_t n, beast::error_code& ec) {
    if (!budget_.take(n)) {
      refuse(refusal::budget, ec);
      return false;
    }
    held_ += n;
    return true;
  }
  std::size_t append(beast::string_view bytes, beast::error_code& ec) {
    try {
      if (!hold(bytes.size(), ec)) return 0;
      body_.append(bytes.data(), bytes.size());
      return bytes.size();
    } catch (const std::bad_alloc&) {
      refuse(refusal::memory, ec);
    } catch (...) {
      refuse(refusal::exception, ec);
    }
    return 0;
  }

  void on_request_impl(http::verb method, beast::string_view method_str, beast::string_view target,
                       int version, beast::error_code& ec) override {
    try {
      if (method == http::verb::unknown) {
        head_.method_string(method_str);
      } else {
        head_.method(method);
      }
      head_.target(target);
      head_.version(static_cast<unsigned>(version));
    } catch (...) {
      refuse(refusal::exception, ec);
    }
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = http::error::bad_version;  // a request parser never sees a status line
  }
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code& ec) override {
    // Beast delivers trailer fields through this callback too, once the header is done.
    // SendGrid sends none, and a trailer must never stand in for a header (credentials,
    // signatures): refuse the request.
    if (is_header_done()) return refuse(refusal::trailer, ec);
    try {
      if (name == http::field::unknown) {
        head_.insert(name_string, value);
      } else {
        head_.insert(name, value);
      }
    } catch (...) {
      refuse(refusal::exception, ec);
    }
  }
  void on_header_impl(beast::error_code& ec) override { ec = {}; }
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code& ec) override {
    // Reserve for what is announced, up to 1 MiB: memory follows the bytes that actually
    // arrive, not a number the client wrote.
    try {
      if (length) body_.reserve(std::min<std::uint64_t>(*length, 1024 * 1024));
    } catch (...) {
      refuse(refusal::memory, ec);
    }
  }
  std::size_t on_body_impl(beast::string_view bytes, beast::error_code& ec) override {
    return append(bytes, ec);
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code& ec) override {
    ec = {};  // sizes are bounded by body_limit; extensions are ignored
  }
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view bytes,
                                 beast::error_code& ec) override {
    return append(bytes, ec);
  }
  void on_finish_impl(beast::error_code& ec) override { ec = {}; }

  body_budget& budget_;
  http::request_header<> head_;
  std::string body_;
  std::uint64_t held_ = 0;
  refusal refused_ = refusal::none;
};

// The answer for a request whose read failed after its header was in (or never came in),
// or nullopt when there is nobody to answer (closed, timed out).
std::optional<reply> answer_for_read_error(const beast::error_code& ec, request_reader::refusal why,
                                           std::uint64_t body_limit, std::uint64_t budget_limit) {
  using refusal = request_reader::refusal;
  switch (why) {
    case refusal::trailer:
      return malformed_request("trailer fields are not accepted");
    case refusal::memory:
    case refusal::exception: {
      reply r{500,
              "{\"error\":\"the request could not be held in memory; nothing was stored\"}",
              "application/json",
              {},
              true};
      return r;
    }
    case refusal::budget: {
      reply r{503,
              "{\"error\":\"too many request bodies in flight (more than " +
                  std::to_string(budget_limit) + " bytes); nothing was stored, retry later\"}",
              "application/json",
              {{"Retry-After", "1"}},
              true};
      return r;
    }
    case refusal::none:
      break;
  }
  if (ec == http::error::body_limit) return body_too_large(body_limit);
  if (ec == http::error::header_limit) {
    reply r{431,
            "{\"error\":\"the request header is larger than " + std::to_string(header_bytes) +
                " bytes; the connection is closed\"}",
            "application/json",
            {},
            true};
    return r;
  }
  if (ec == http::error::buffer_overflow) {
    return malformed_request(
        "a chunk-size line, chunk extension or trailer section is longer than " +
        std::to_string(read_buffer_bytes) + " bytes");
  }
  // Closed or timed out: nobody to answer. Any other parser error: the bytes broke HTTP.
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == beast::error::timeout ||
      ec.category() != http::make_error_code(http::error::bad_target).category()) {
    return std::nullopt;
  }
  return malformed_request(ec.message());
}

}  // namespace

namespace {

// What stop() needs of any connection: its TCP layer, and whether a request is in hand.
struct connection_base {
  virtual ~connection_base() = default;
  virtual beast::tcp_stream& transport() = 0;
  bool busy = false;  // a request is being handled: touched only on the connection's strand
  listener_role role = listener_role::public_and_admin;  // set before the connection starts
  bool answering = false;  // an answer is being written: a failure then cannot add a 500
  // The last answer refused a request whose bytes may still be arriving: close() drains them
  // briefly, so the client reads the answer instead of a reset.
  bool linger = false;
};

// A source's current authentication requirements, swapped whole on reload.
class auth_slot {
 public:
  explicit auth_slot(std::shared_ptr<const source_auth> a) : current_(std::move(a)) {}
  std::shared_ptr<const source_auth> load() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void store(std::shared_ptr<const source_auth> a) {
    std::lock_guard lock(mutex_);
    current_ = std::move(a);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const source_auth> current_;
};

// The reason inside one of our JSON error answers ({"error":"..."}), still JSON-escaped.
std::string_view error_text(const reply& r) {
  std::string_view b = r.body;
  constexpr std::string_view prefix = "{\"error\":\"";
  if (!b.starts_with(prefix) || !b.ends_with("\"}")) return {};
  b.remove_prefix(prefix.size());
  b.remove_suffix(2);
  return b;
}
struct plain_connection final : connection_base {
  explicit plain_connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  beast::tcp_stream& transport() override { return stream; }
};

struct tls_connection final : connection_base {
  tls_connection(tcp::socket socket, std::shared_ptr<ssl::context> ctx)
      : context(std::move(ctx)), stream(std::move(socket), *context) {}
  // The certificate this connection was accepted with; a reload does not pull it away.
  // Declared before `stream` so it outlives it.
  std::shared_ptr<ssl::context> context;
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::tcp_stream& transport() override { return beast::get_lowest_layer(stream); }
};

template <class Conn>
constexpr bool is_tls = std::is_same_v<Conn, tls_connection>;

// Awaits the store's commit: the writer thread's callback is posted back to the
// connection's strand. The work guard keeps the io_context running while it waits.
template <class Token>
auto async_store(store::event_store& st, events::parsed_batch batch,
                 std::chrono::system_clock::time_point at, Token&& token) {
  return asio::async_initiate<Token, void(store::write_result)>(
      [&st](auto handler, events::parsed_batch b, std::chrono::system_clock::time_point t) {
        auto ex = asio::prefer(asio::get_associated_executor(handler),
                               asio::execution::outstanding_work.tracked);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        st.submit(std::move(b), t, [h, ex](const store::write_result& r) {
          asio::post(ex, [h, r]() mutable { std::move (*h)(r); });
        });
      },
      token, std::move(batch), at);
}

http::response<http::string_body> to_response(const reply& r, unsigned version, bool keep_alive,
                                              bool head) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "sendgrid-source");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive && !r.close);
  if (head) {
    res.content_length(r.body.size());
  } else {
    res.body() = r.body;
    res.prepare_payload();
  }
  return res;
}

}  // namespace

struct server::state : std::enable_shared_from_this<server::state> {
  state(asio::any_io_executor ex, server_options opts,
        std::map<std::string, source_endpoint, std::less<>> srcs)
      : executor(ex),
        options(std::move(opts)),
        sources(std::move(srcs)),
        acceptor(ex),
        admin_acceptor(ex),
        bodies(options.max_body_bytes * 32) {
    for (const auto& [name, src] : sources) {
      auth.emplace(name, std::make_unique<auth_slot>(std::make_shared<source_auth>(src.auth)));
    }
  }

  asio::any_io_executor executor;
  server_options options;
  std::map<std::string, source_endpoint, std::less<>> sources;
  std::map<std::string, std::unique_ptr<auth_slot>, std::less<>> auth;  // same keys as sources
  // Refused and failed requests are logged once a minute per source and status, with a count:
  // a misconfigured sender or a full disk would otherwise write a line per request.
  logging::repeat_limiter refusal_log{std::chrono::seconds(60)};
  tcp::acceptor acceptor;
  tcp::acceptor admin_acceptor;  // open only when options.admin_listen is set
  std::atomic<bool> stopping{false};
  std::atomic<std::uint32_t> active{0};
  request_metrics metrics;
  body_budget bodies;

  std::mutex connections_mutex;
  std::set<std::shared_ptr<connection_base>> connections;

  // The context new TLS connections are accepted with; null when the server is plain HTTP.
  std::mutex tls_mutex;
  std::shared_ptr<ssl::context> tls_context;

  listener_role public_role() const {
    return options.admin_listen ? listener_role::public_only : listener_role::public_and_admin;
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& from, listener_role role);
  template <class Conn>
  void launch(std::shared_ptr<Conn> conn);
  template <class Conn>
  asio::awaitable<bool> open(Conn& conn, beast::flat_buffer& buffer);
  template <class Conn>
  asio::awaitable<void> close(Conn& conn, bool opened);
  template <class Conn>
  asio::awaitable<void> serve(std::shared_ptr<Conn> conn);
  template <class Conn>
  asio::awaitable<bool> serve_requests(Conn& conn, beast::flat_buffer& buffer);
  template <class Conn>
  asio::awaitable<void> refuse(std::shared_ptr<Conn> conn);
  template <class Conn>
  asio::awaitable<reply> handle_webhook(Conn& conn, beast::flat_buffer& buffer,
                                        request_reader& reader, const std::string& source);
  template <class Conn>
  asio::awaitable<bool> write_reply(Conn& conn, const reply& answer, unsigned version,
                                    bool keep_alive, bool head);
  reply healthz() const;
  reply metrics_reply() const;
  void log_refusal(std::string_view source, std::string_view path, const reply& answer);
  void log_contained(std::string_view what);
  reply token_reply(const std::string& source, const http::request_header<>& head,
                    const std::string& body);
};

void server::state::log_refusal(std::string_view source, std::string_view path,
                                const reply& answer) {
  // Keyed by configured source; refused paths (chosen by the client) all share one key.
  const auto v = refusal_log.allow(std::string(source.empty() ? "(no source)" : source) + " " +
                                   std::to_string(answer.status));
  if (!v.log) return;
  if (path.size() > 200) path = path.substr(0, 200);
  const std::string suffix = logging::repeat_limiter::suffix(v);
  if (answer.status >= 500) {
    logging::error("webhook request not stored" + suffix, {{"source", source},
                                                           {"path", path},
                                                           {"status", answer.status},
                                                           {"reason", error_text(answer)}});
  } else {
    logging::warn("webhook request refused" + suffix, {{"source", source},
                                                       {"path", path},
                                                       {"status", answer.status},
                                                       {"reason", error_text(answer)}});
  }
}

void server::state::log_contained(std::string_view what) {
  metrics.count_contained_error();
  const auto v = refusal_log.allow("contained connection error");
  if (!v.log) return;
  logging::error("a connection failed inside the server and was closed; the daemon goes on" +
                     logging::repeat_limiter::suffix(v),
                 {{"error", what}});
}

asio::awaitable<void> server::state::accept_loop(tcp::acceptor& from, listener_role role) {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, socket] = co_await from.async_accept(asio::make_strand(executor), use_tuple);
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) co_return;
      continue;  // e.g. EMFILE: the connection is dropped, the listener keeps going
    }
    socket.set_option(tcp::no_delay(true), ec);
    std::shared_ptr<ssl::context> context;
    if (role != listener_role::admin_only) {
      std::lock_guard lock(tls_mutex);
      context = tls_context;
    }
    if (context) {
      auto conn = std::make_shared<tls_connection>(std::move(socket), std::move(context));
      conn->role = role;
      launch(std::move(conn));
    } else {
      auto conn = std::make_shared<plain_connection>(std::move(socket));
      conn->role = role;
      launch(std::move(conn));
    }
  }
}

template <class Conn>
void server::state::launch(std::shared_ptr<Conn> conn) {
  auto ex = conn->transport().get_executor();
  if (active.load() >= options.max_connections) {
    asio::co_spawn(ex, refuse(std::move(conn)), asio::detached);
    return;
  }
  {
    std::lock_guard lock(connections_mutex);
    connections.insert(conn);
  }
  ++active;
  auto self = shared_from_this();
  asio::co_spawn(ex, serve(conn), [self, conn](std::exception_ptr e) {
    // serve() catches everything; this is the last net under it.
    if (e) self->log_contained("an exception left a connection's coroutine");
    std::lock_guard lock(self->connections_mutex);
    self->connections.erase(conn);
    --self->active;
  });
}

// TLS: the first bytes must be a TLS handshake, and the handshake must finish within
// handshake_timeout (one deadline for both, so trickling a ClientHello does not extend it).
// A client speaking plain HTTP gets a plain 400 telling it to use https. False when the
// connection is to be closed. Plain connections are open from the start.
template <class Conn>
asio::awaitable<bool> server::state::open(Conn& conn, beast::flat_buffer& buffer) {
  if constexpr (!is_tls<Conn>) {
    (void)conn;
    (void)buffer;
    co_return true;
  } else {
    conn.transport().expires_after(options.handshake_timeout);
    auto [dec, is_tls_hello] =
        co_await beast::async_detect_ssl(conn.transport(), buffer, use_tuple);
    if (dec) co_return false;  // closed or timed out before a byte came
    if (!is_tls_hello) {
      metrics.count_status(400);
      auto res = to_response(
          reply{400,
                "{\"error\":\"this port speaks HTTPS (TLS 1.2 or later); use an https:// URL\"}",
                "application/json",
                {},
                true},
          11, false, false);
      conn.transport().expires_after(std::chrono::seconds(5));
      co_await http::async_write(conn.transport(), res, use_tuple);
      co_return false;
    }
    auto [hec, used] =
        co_await conn.stream.async_handshake(ssl::stream_base::server, buffer.data(), use_tuple);
    if (hec) co_return false;  // wrong version, no shared cipher, timeout: nothing to answer
    buffer.consume(used);
    co_return true;
  }
}

template <class Conn>
asio::awaitable<void> server::state::close(Conn& conn, bool opened) {
  if constexpr (is_tls<Conn>) {
    // close_notify tells the client the answer was complete; a client that never answers
    // it costs at most two seconds.
    if (opened && conn.transport().socket().is_open()) {
      conn.transport().expires_after(std::chrono::seconds(2));
      co_await conn.stream.async_shutdown(use_tuple);
    }
  } else if (opened && conn.linger && conn.transport().socket().is_open()) {
    // Closing with unread input makes the kernel send a reset, and a client still sending
    // then loses our answer (the 413 it should retry smaller, the 400 that says why). So send
    // our FIN first and read what is in flight for at most a second and 1 MiB, into a small
    // buffer that is thrown away: bounded in time and memory (RFC 9112 §9.6).
    beast::error_code ec;
    conn.transport().socket().shutdown(tcp::socket::shutdown_send, ec);
    conn.transport().expires_after(std::chrono::seconds(1));
    std::array<char, 16 * 1024> sink;
    for (std::size_t drained = 0; drained < 1024 * 1024;) {
      auto [rec, n] = co_await conn.transport().async_read_some(asio::buffer(sink), use_tuple);
      if (rec) break;
      drained += n;
    }
  }
  beast::error_code ec;
  conn.transport().socket().shutdown(tcp::socket::shutdown_both, ec);
  conn.transport().socket().close(ec);
}

template <class Conn>
asio::awaitable<void> server::state::refuse(std::shared_ptr<Conn> conn) {
  try {
    beast::flat_buffer buffer(read_buffer_bytes);
    const bool opened = co_await open(*conn, buffer);
    if (opened) {
      conn->transport().expires_after(std::chrono::seconds(2));
      auto res = to_response(too_many_connections(), 11, false, false);
      co_await http::async_write(conn->stream, res, use_tuple);
    }
    co_await close(*conn, opened);
  } catch (const std::exception& e) {
    log_contained(e.what());
  } catch (...) {
    log_contained("unknown exception");
  }
}

template <class Conn>
asio::awaitable<bool> server::state::write_reply(Conn& conn, const reply& answer, unsigned version,
                                                 bool keep_alive, bool head) {
  auto res = to_response(answer, version, keep_alive, head);
  conn.transport().expires_after(options.body_timeout);
  conn.answering = true;
  auto [wec, written] = co_await http::async_write(conn.stream, res, use_tuple);
  (void)written;
  conn.answering = false;
  co_return !wec && !res.need_eof();
}

// One connection: open (TLS), requests until the client or an error ends it, close. Nothing
// thrown in here leaves it: a failure is answered 500 when the connection can still be
// written, then the connection is closed, counted and logged (rate-limited).
template <class Conn>
asio::awaitable<void> server::state::serve(std::shared_ptr<Conn> conn) {
  auto self = shared_from_this();
  bool opened = false;
  std::string failure;
  try {
    beast::flat_buffer buffer(read_buffer_bytes);
    opened = co_await open(*conn, buffer);
    if (opened) opened = co_await serve_requests(*conn, buffer);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  if (!failure.empty()) {
    log_contained(failure);
    // co_await is not allowed in a catch block, hence the flag. A half-written answer cannot
    // be repaired: only a connection that is not in the middle of an answer gets the 500.
    try {
      if (opened && !conn->answering && conn->transport().socket().is_open()) {
        metrics.count_status(500);
        co_await write_reply(*conn,
                             reply{500,
                                   "{\"error\":\"internal error; nothing was stored\"}",
                                   "application/json",
                                   {},
                                   true},
                             11, false, false);
      }
    } catch (...) {
      // The connection is being closed anyway.
    }
  }
  try {
    co_await close(*conn, opened);
  } catch (...) {
    beast::error_code ec;
    conn->transport().socket().close(ec);
  }
}

// Serves requests on an open connection until it is to be closed. Returns whether the
// connection is still open (for close's TLS shutdown).
template <class Conn>
asio::awaitable<bool> server::state::serve_requests(Conn& conn, beast::flat_buffer& buffer) {
  bool first = true;
  while (!stopping) {
    request_reader reader(bodies);
    conn.transport().expires_after(first ? options.header_timeout : options.idle_timeout);
    auto [ec, ignored] = co_await http::async_read_header(conn.stream, buffer, reader, use_tuple);
    (void)ignored;
    if (ec) {
      // Malformed HTTP gets its 4xx before closing; timeouts and closed peers just close.
      if (auto answer =
              answer_for_read_error(ec, reader.refused(), options.max_body_bytes, bodies.limit())) {
        metrics.count_status(answer->status);
        conn.linger = true;
        co_await write_reply(conn, *answer, 11, false, false);
      }
      co_return true;
    }
    conn.busy = true;
    const auto started = std::chrono::steady_clock::now();
    auto& head = reader.head();
    const bool head_request = head.method() == http::verb::head;
    const unsigned version = head.version();
    bool keep_alive = reader.keep_alive();
    const std::string_view target(head.target());
    const std::string_view path = target.substr(0, target.find('?'));
    reply answer;
    route_result routed;
    std::optional<reply> head_refusal = check_request_head(version, reader.fields());
    if (!head_refusal) {
      routed = restrict_to(
          conn.role == listener_role::admin_only ? listener_role::admin_only : public_role(),
          route(std::string_view(head.method_string()), target,
                [this](std::string_view name) { return sources.find(name) != sources.end(); }));
    }
    if (head_refusal) {
      // Framing or credentials in doubt: answered and closed, the body is never read.
      answer = std::move(*head_refusal);
      if (path.starts_with("/webhooks/")) log_refusal({}, path, answer);
    } else if (routed.kind == route_kind::webhook_post) {
      answer = co_await handle_webhook(conn, buffer, reader, routed.source);
      metrics.count_webhook_response(routed.source, answer.status);
      if (answer.status >= 400) log_refusal(routed.source, {}, answer);
    } else {
      // Other routes take at most a small body (the OAuth form); a larger one is refused
      // unread, and any error while reading it closes the connection.
      bool body_complete = true;
      if (!reader.is_done()) {
        if (auto length = reader.content_length(); length && *length > small_body_bytes) {
          answer = body_too_large(small_body_bytes);
          body_complete = false;
        } else {
          reader.body_limit(small_body_bytes);
          conn.transport().expires_after(options.body_timeout);
          auto [rec, n] = co_await http::async_read(conn.stream, buffer, reader, use_tuple);
          (void)n;
          if (rec) {
            body_complete = false;
            auto refused =
                answer_for_read_error(rec, reader.refused(), small_body_bytes, bodies.limit());
            if (!refused) co_return true;  // closed or timed out mid-body: nobody to answer
            answer = std::move(*refused);
          }
        }
      }
      if (!body_complete) {
        answer.close = true;
      } else if (routed.kind == route_kind::oauth_token) {
        answer = token_reply(routed.source, head, reader.body());
      } else if (routed.kind == route_kind::healthz) {
        answer = healthz();
      } else if (routed.kind == route_kind::metrics) {
        answer = metrics_reply();
      } else {
        answer = std::move(routed.immediate);
        // A wrong Post URL shows up here, as 404s to /webhooks/...: worth a line.
        if (path.starts_with("/webhooks/")) log_refusal({}, path, answer);
      }
    }
    metrics.count_status(answer.status);
    if (stopping) answer.close = true;
    if (answer.close && answer.status >= 400) conn.linger = true;
    const bool keep = co_await write_reply(conn, answer, version, keep_alive, head_request);
    metrics.observe_latency(std::chrono::steady_clock::now() - started);
    conn.busy = false;
    first = false;
    if (!keep) break;
  }
  co_return true;
}

template <class Conn>
asio::awaitable<reply> server::state::handle_webhook(Conn& conn, beast::flat_buffer& buffer,
                                                     request_reader& reader,
                                                     const std::string& source) {
  auto& head = reader.head();
  const source_endpoint& endpoint = sources.find(source)->second;
  // Taken once: a reload during this request does not change what it is checked against.
  const std::shared_ptr<const source_auth> auth_now = auth.find(source)->second->load();
  const source_auth& required = *auth_now;
  // Credentials are checked before the body is read: a client without them costs nothing.
  if (auto refused =
          check_basic_auth(required, std::string_view(head[http::field::authorization]))) {
    refused->close = !reader.is_done();
    co_return *refused;
  }
  if (endpoint.auth.oauth != nullptr) {
    if (auto refused =
            endpoint.auth.oauth->check_bearer(std::string_view(head[http::field::authorization]))) {
      refused->close = !reader.is_done();
      co_return *refused;
    }
  }
  if (auto length = reader.content_length(); length && *length > options.max_body_bytes) {
    co_return body_too_large(options.max_body_bytes);  // the rest is not read: close
  }
  reader.body_limit(options.max_body_bytes);
  if (beast::iequals(head[http::field::expect], "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, head.version()};
    conn.transport().expires_after(options.body_timeout);
    auto [cec, cn] = co_await http::async_write(conn.stream, cont, use_tuple);
    (void)cn;
    if (cec)
      co_return reply{400, "{\"error\":\"connection failed\"}", "application/json", {}, true};
  }
  if (!reader.is_done()) {
    conn.transport().expires_after(options.body_timeout);
    auto [ec, n] = co_await http::async_read(conn.stream, buffer, reader, use_tuple);
    (void)n;
    if (ec) {
      if (auto refused =
              answer_for_read_error(ec, reader.refused(), options.max_body_bytes, bodies.limit())) {
        co_return std::move(*refused);
      }
      reply r{400,
              "{\"error\":\"the request body could not be read (" + ec.message() +
                  "); nothing was stored\"}",
              "application/json",
              {},
              true};
      co_return r;
    }
  }
  const auto received_at = std::chrono::system_clock::now();
  auto checked =
      check_and_parse_body(required,
                           {std::string_view(head["X-Twilio-Email-Event-Webhook-Timestamp"]),
                            std::string_view(head["X-Twilio-Email-Event-Webhook-Signature"])},
                           std::move(reader.body()), options.max_events_per_request, received_at);
  if (auto* refused = std::get_if<reply>(&checked)) {
    if (is_bad_body(*refused)) metrics.count_bad_body(source);
    co_return std::move(*refused);
  }
  auto& batch = std::get<events::parsed_batch>(checked);
  {
    std::array<std::uint64_t, events::event_type_count> by_type{};
    for (const auto& e : batch.events) ++by_type[static_cast<std::size_t>(e.kind)];
    for (auto t : events::all_event_types) {
      if (by_type[static_cast<std::size_t>(t)] > 0)
        metrics.count_received(source, events::table_name(t), by_type[static_cast<std::size_t>(t)]);
    }
    if (!batch.rejected.empty())
      metrics.count_received(source, "rejected_events", batch.rejected.size());
  }
  store::event_store& st = *endpoint.store;
  store::write_result result =
      co_await async_store(st, std::move(batch), received_at, asio::use_awaitable);
  co_return reply_for(result);
}

namespace {

// {"lists":{"result":"succeeded","finished_at":"...","last_success_at":"..."},...}, or null
// when the sync of this source reported nothing (no API key, or no run since start and none
// recorded before).
std::string last_sync_json(const metrics::sync_metrics* sync, std::string_view source) {
  if (sync == nullptr) return "null";
  const auto collections = sync->collections_of(source);
  if (collections.empty()) return "null";
  std::string out = "{";
  for (const auto& [name, st] : collections) {
    if (out.size() > 1) out += ",";
    out += json_quote(name) + ":{\"result\":" +
           (st.last_result.empty() ? std::string("null") : json_quote(st.last_result)) +
           ",\"finished_at\":" +
           (st.last_finished_at.empty() ? std::string("null") : json_quote(st.last_finished_at)) +
           ",\"last_success_at\":" +
           (st.last_success_at.empty() ? std::string("null") : json_quote(st.last_success_at)) +
           "}";
  }
  return out + "}";
}

}  // namespace

reply server::state::token_reply(const std::string& source, const http::request_header<>& head,
                                 const std::string& body) {
  oauth_issuer* issuer = sources.find(source)->second.auth.oauth;
  if (issuer == nullptr) {
    reply r;
    r.status = 404;
    r.body = "{\"error\":" +
             json_quote("source " + source + " has no webhook_oauth_client_id configured") + "}";
    return r;
  }
  return issuer->token_request(std::string_view(head[http::field::authorization]), body);
}

reply server::state::healthz() const {
  std::string reasons;
  bool all_ok = true;
  std::string body = "{\"sources\":{";
  bool first = true;
  for (const auto& [name, src] : sources) {
    const auto& c = src.store->counters();
    const bool ok = src.store->healthy();
    all_ok = all_ok && ok;
    std::uint64_t stored = 0;
    for (const auto& n : c.stored) stored += n.load();
    const auto last_ms = c.last_event_unix_ms.load();
    if (!first) body += ",";
    first = false;
    body += json_quote(name) + ":{\"writable\":" + (ok ? "true" : "false") +
            ",\"events_stored\":" + std::to_string(stored) + ",\"last_event_at\":" +
            (last_ms ? json_quote(text::iso8601_utc(std::chrono::system_clock::time_point(
                           std::chrono::milliseconds(last_ms))))
                     : std::string("null")) +
            ",\"queued_events\":" + std::to_string(c.queued_events.load()) +
            ",\"pending_events\":" + std::to_string(c.pending_events.load()) +
            ",\"last_sync\":" + last_sync_json(options.sync_metrics, name) +
            (ok ? std::string() : ",\"error\":" + json_quote(src.store->last_error())) + "}";
    if (!ok) {
      reasons += (reasons.empty() ? "" : "; ") + std::string("source ") + name +
                 " is not writable: " + src.store->last_error();
    }
  }
  body += "},\"status\":";
  body += all_ok ? "\"ok\"" : "\"unavailable\",\"reason\":" + json_quote(reasons);
  body += "}";
  reply r;
  r.status = all_ok ? 200 : 503;
  r.body = std::move(body);
  return r;
}

reply server::state::metrics_reply() const {
  std::vector<metrics_source> srcs;
  for (const auto& [name, src] : sources) srcs.push_back({name, src.store});
  reply r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = render_metrics(metrics, srcs, options.sync_metrics);
  return r;
}

server::server(asio::any_io_executor executor, server_options options,
               std::map<std::string, source_endpoint, std::less<>> sources)
    : state_(std::make_shared<state>(executor, std::move(options), std::move(sources))) {}

server::~server() { stop(); }

namespace {

void bind_listener(tcp::acceptor& acceptor, const std::string& host, std::uint16_t port,
                   std::string_view key) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    throw std::system_error(ec, std::string(key) + ": '" + host + "' is not an IP address");
  }
  tcp::endpoint endpoint(address, port);
  const std::string where = host + ":" + std::to_string(port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(1024, ec);
  if (ec) throw std::system_error(ec, "cannot listen on " + where + " (" + std::string(key) + ")");
}

}  // namespace

void server::start() {
  auto& st = *state_;
  if (st.options.tls) {
    auto loaded = load_tls_context(*st.options.tls);
    if (auto* error = std::get_if<std::string>(&loaded)) throw std::runtime_error(*error);
    st.tls_context = std::get<std::shared_ptr<ssl::context>>(std::move(loaded));
  }
  bind_listener(st.acceptor, st.options.host, st.options.port, "server.listen");
  if (st.options.admin_listen) {
    bind_listener(st.admin_acceptor, st.options.admin_listen->host, st.options.admin_listen->port,
                  "server.admin_listen");
  }
  asio::co_spawn(st.acceptor.get_executor(), st.accept_loop(st.acceptor, st.public_role()),
                 asio::detached);
  if (st.options.admin_listen) {
    asio::co_spawn(st.admin_acceptor.get_executor(),
                   st.accept_loop(st.admin_acceptor, listener_role::admin_only), asio::detached);
  }
}

std::uint16_t server::port() const {
  beast::error_code ec;
  auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

std::uint16_t server::admin_port() const {
  if (!state_->options.admin_listen) return 0;
  beast::error_code ec;
  auto ep = state_->admin_acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

std::uint64_t server::contained_errors() const { return state_->metrics.contained_errors(); }

void run_contained(boost::asio::io_context& ioc) {
  static logging::repeat_limiter limiter{std::chrono::seconds(60)};
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      // A handler threw outside any connection's coroutine: log it and keep serving.
      const auto v = limiter.allow("io");
      if (v.log) {
        logging::error(
            "an I/O handler failed; the daemon goes on" + logging::repeat_limiter::suffix(v),
            {{"error", e.what()}});
      }
    } catch (...) {
      const auto v = limiter.allow("io");
      if (v.log) logging::error("an I/O handler failed; the daemon goes on", {});
    }
  }
}

bool server::set_auth(std::string_view source, std::shared_ptr<const source_auth> auth) {
  auto it = state_->auth.find(source);
  if (it == state_->auth.end() || !auth) return false;
  it->second->store(std::move(auth));
  return true;
}

void server::stop() {
  auto st = state_;
  if (st->stopping.exchange(true)) return;
  asio::post(st->acceptor.get_executor(), [st] {
    beast::error_code ec;
    st->acceptor.close(ec);
    st->admin_acceptor.close(ec);
  });
  std::lock_guard lock(st->connections_mutex);
  for (const auto& conn : st->connections) {
    // Idle connections are closed; a busy one finishes its request, then sees `stopping`.
    asio::post(conn->transport().get_executor(), [conn] {
      if (!conn->busy) {
        beast::error_code ec;
        conn->transport().socket().shutdown(tcp::socket::shutdown_both, ec);
        conn->transport().socket().close(ec);
      }
    });
  }
}

std::optional<std::string> server::reload_tls() {
  auto& st = *state_;
  if (!st.options.tls) return "TLS is not configured (server.tls_cert_file is not set)";
  auto loaded = load_tls_context(*st.options.tls);
  if (auto* error = std::get_if<std::string>(&loaded)) return std::move(*error);
  std::lock_guard lock(st.tls_mutex);
  st.tls_context = std::get<std::shared_ptr<ssl::context>>(std::move(loaded));
  return std::nullopt;
}

}  // namespace sgs::webhook
