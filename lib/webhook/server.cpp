// Beast/Asio server: accept loop, one coroutine per connection, limits and timeouts, and
// the await on the store's commit. The only translation unit of lib/webhook with Beast.
//
// Plain and TLS connections run the same coroutines, templated on the connection type; only
// opening (TLS: detect, handshake) and closing (TLS: close_notify) differ. Every limit and
// timeout is set on the TCP layer underneath, so it holds for both.
#include "webhook/server.hpp"

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
#include "webhook/routes.hpp"

namespace sgs::webhook {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// What stop() needs of any connection: its TCP layer, and whether a request is in hand.
struct connection_base {
  virtual ~connection_base() = default;
  virtual beast::tcp_stream& transport() = 0;
  bool busy = false;  // a request is being handled: touched only on the connection's strand
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
      : executor(ex), options(std::move(opts)), sources(std::move(srcs)), acceptor(ex) {
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
  std::atomic<bool> stopping{false};
  std::atomic<std::uint32_t> active{0};
  request_metrics metrics;

  std::mutex connections_mutex;
  std::set<std::shared_ptr<connection_base>> connections;

  // The context new TLS connections are accepted with; null when the server is plain HTTP.
  std::mutex tls_mutex;
  std::shared_ptr<ssl::context> tls_context;

  asio::awaitable<void> accept_loop();
  template <class Conn>
  void launch(std::shared_ptr<Conn> conn);
  template <class Conn>
  asio::awaitable<bool> open(Conn& conn, beast::flat_buffer& buffer);
  template <class Conn>
  asio::awaitable<void> close(Conn& conn, bool opened);
  template <class Conn>
  asio::awaitable<void> serve(std::shared_ptr<Conn> conn);
  template <class Conn>
  asio::awaitable<void> refuse(std::shared_ptr<Conn> conn);
  template <class Conn>
  asio::awaitable<reply> handle_webhook(Conn& conn, beast::flat_buffer& buffer,
                                        http::request_parser<http::string_body>& parser,
                                        const std::string& source);
  reply healthz() const;
  reply metrics_reply() const;
  void log_refusal(std::string_view source, std::string_view path, const reply& answer);
  reply token_reply(const std::string& source, const http::request<http::string_body>& req);
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

asio::awaitable<void> server::state::accept_loop() {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(executor), use_tuple);
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) co_return;
      continue;  // e.g. EMFILE: the connection is dropped, the listener keeps going
    }
    socket.set_option(tcp::no_delay(true), ec);
    std::shared_ptr<ssl::context> context;
    {
      std::lock_guard lock(tls_mutex);
      context = tls_context;
    }
    if (context) {
      launch(std::make_shared<tls_connection>(std::move(socket), std::move(context)));
    } else {
      launch(std::make_shared<plain_connection>(std::move(socket)));
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
  asio::co_spawn(ex, serve(conn), [self, conn](std::exception_ptr) {
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
  } else {
    (void)opened;
  }
  beast::error_code ec;
  conn.transport().socket().shutdown(tcp::socket::shutdown_both, ec);
  conn.transport().socket().close(ec);
}

template <class Conn>
asio::awaitable<void> server::state::refuse(std::shared_ptr<Conn> conn) {
  beast::flat_buffer buffer;
  const bool opened = co_await open(*conn, buffer);
  if (opened) {
    conn->transport().expires_after(std::chrono::seconds(2));
    auto res = to_response(too_many_connections(), 11, false, false);
    co_await http::async_write(conn->stream, res, use_tuple);
  }
  co_await close(*conn, opened);
}

template <class Conn>
asio::awaitable<void> server::state::serve(std::shared_ptr<Conn> conn) {
  auto self = shared_from_this();
  beast::flat_buffer buffer;
  bool first = true;
  const bool opened = co_await open(*conn, buffer);
  while (opened && !stopping) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    // The body limit is set per route once the headers are in (Beast would otherwise fail
    // the header read itself on a large Content-Length, before we can answer 413).
    parser.body_limit(boost::none);
    conn->transport().expires_after(first ? options.header_timeout : options.idle_timeout);
    auto [ec, ignored] = co_await http::async_read_header(conn->stream, buffer, parser, use_tuple);
    (void)ignored;
    if (ec) {
      // Malformed HTTP gets a 400 before closing; timeouts and closed peers just close.
      if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
          ec != http::error::end_of_stream) {
        metrics.count_status(400);
        auto res = to_response(
            reply{400, "{\"error\":\"malformed HTTP request\"}", "application/json", {}, true}, 11,
            false, false);
        conn->transport().expires_after(std::chrono::seconds(5));
        co_await http::async_write(conn->stream, res, use_tuple);
      }
      break;
    }
    conn->busy = true;
    const auto started = std::chrono::steady_clock::now();
    auto& req = parser.get();
    const bool head = req.method() == http::verb::head;
    const unsigned version = req.version();
    bool keep_alive = req.keep_alive();
    route_result routed =
        route(std::string_view(req.method_string()), std::string_view(req.target()),
              [this](std::string_view name) { return sources.find(name) != sources.end(); });
    reply answer;
    const std::string_view path =
        std::string_view(req.target()).substr(0, std::string_view(req.target()).find('?'));
    if (routed.kind == route_kind::webhook_post) {
      answer = co_await handle_webhook(*conn, buffer, parser, routed.source);
      metrics.count_webhook_response(routed.source, answer.status);
      if (answer.status >= 400) log_refusal(routed.source, {}, answer);
    } else {
      // Other routes take no body; one that comes anyway is read (small) or the connection closed.
      bool body_complete = true;
      if (!parser.is_done()) {
        parser.body_limit(64 * 1024);
        conn->transport().expires_after(options.body_timeout);
        auto [rec, n] = co_await http::async_read(conn->stream, buffer, parser, use_tuple);
        (void)n;
        if (rec) keep_alive = body_complete = false;
      }
      if (routed.kind == route_kind::oauth_token) {
        answer = body_complete ? token_reply(routed.source, req) : bad_request("unreadable body");
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
    auto res = to_response(answer, version, keep_alive, head);
    conn->transport().expires_after(options.body_timeout);
    auto [wec, written] = co_await http::async_write(conn->stream, res, use_tuple);
    (void)written;
    metrics.observe_latency(std::chrono::steady_clock::now() - started);
    conn->busy = false;
    first = false;
    if (wec || res.need_eof()) break;
  }
  co_await close(*conn, opened);
}

template <class Conn>
asio::awaitable<reply> server::state::handle_webhook(
    Conn& conn, beast::flat_buffer& buffer, http::request_parser<http::string_body>& parser,
    const std::string& source) {
  auto& req = parser.get();
  const source_endpoint& endpoint = sources.find(source)->second;
  // Taken once: a reload during this request does not change what it is checked against.
  const std::shared_ptr<const source_auth> auth_now = auth.find(source)->second->load();
  const source_auth& required = *auth_now;
  // Credentials are checked before the body is read: a client without them costs nothing.
  if (auto refused =
          check_basic_auth(required, std::string_view(req[http::field::authorization]))) {
    refused->close = !parser.is_done();
    co_return *refused;
  }
  if (endpoint.auth.oauth != nullptr) {
    if (auto refused =
            endpoint.auth.oauth->check_bearer(std::string_view(req[http::field::authorization]))) {
      refused->close = !parser.is_done();
      co_return *refused;
    }
  }
  if (auto length = parser.content_length(); length && *length > options.max_body_bytes) {
    co_return body_too_large(options.max_body_bytes);  // the rest is not read: close
  }
  parser.body_limit(options.max_body_bytes);
  if (beast::iequals(req[http::field::expect], "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, req.version()};
    conn.transport().expires_after(options.body_timeout);
    auto [cec, cn] = co_await http::async_write(conn.stream, cont, use_tuple);
    (void)cn;
    if (cec)
      co_return reply{400, "{\"error\":\"connection failed\"}", "application/json", {}, true};
  }
  if (!parser.is_done()) {
    conn.transport().expires_after(options.body_timeout);
    auto [ec, n] = co_await http::async_read(conn.stream, buffer, parser, use_tuple);
    (void)n;
    if (ec == http::error::body_limit) co_return body_too_large(options.max_body_bytes);
    if (ec) {
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
                           {std::string_view(req["X-Twilio-Email-Event-Webhook-Timestamp"]),
                            std::string_view(req["X-Twilio-Email-Event-Webhook-Signature"])},
                           std::move(req.body()), options.max_events_per_request, received_at);
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

reply server::state::token_reply(const std::string& source,
                                 const http::request<http::string_body>& req) {
  oauth_issuer* issuer = sources.find(source)->second.auth.oauth;
  if (issuer == nullptr) {
    reply r;
    r.status = 404;
    r.body = "{\"error\":" +
             json_quote("source " + source + " has no webhook_oauth_client_id configured") + "}";
    return r;
  }
  return issuer->token_request(std::string_view(req[http::field::authorization]), req.body());
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

void server::start() {
  auto& st = *state_;
  if (st.options.tls) {
    auto loaded = load_tls_context(*st.options.tls);
    if (auto* error = std::get_if<std::string>(&loaded)) throw std::runtime_error(*error);
    st.tls_context = std::get<std::shared_ptr<ssl::context>>(std::move(loaded));
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(st.options.host, ec);
  if (ec) {
    throw std::system_error(ec, "server.listen: '" + st.options.host + "' is not an IP address");
  }
  tcp::endpoint endpoint(address, st.options.port);
  const std::string where = st.options.host + ":" + std::to_string(st.options.port);
  st.acceptor.open(endpoint.protocol(), ec);
  if (!ec) st.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) st.acceptor.bind(endpoint, ec);
  if (!ec) st.acceptor.listen(1024, ec);
  if (ec) throw std::system_error(ec, "cannot listen on " + where);
  asio::co_spawn(st.acceptor.get_executor(), st.accept_loop(), asio::detached);
}

std::uint16_t server::port() const {
  beast::error_code ec;
  auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
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
