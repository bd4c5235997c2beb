// Beast/Asio server: accept loop, one coroutine per connection, limits and timeouts, and
// the await on the store's commit. The only translation unit of lib/webhook with Beast.
#include "webhook/server.hpp"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <set>
#include <system_error>

#include "events/parse.hpp"
#include "logging/log.hpp"
#include "logging/repeat_limiter.hpp"
#include "webhook/metrics.hpp"
#include "webhook/routes.hpp"

namespace sgs::webhook {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

struct connection {
  explicit connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
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
  std::set<std::shared_ptr<connection>> connections;

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<connection> conn);
  asio::awaitable<void> refuse(tcp::socket socket);
  asio::awaitable<reply> handle_webhook(std::shared_ptr<connection> conn,
                                        beast::flat_buffer& buffer,
                                        http::request_parser<http::string_body>& parser,
                                        const std::string& source);
  reply healthz() const;
  reply metrics_reply() const;
  void log_refusal(std::string_view source, std::string_view path, const reply& answer);
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
    if (active.load() >= options.max_connections) {
      auto ex = socket.get_executor();
      asio::co_spawn(ex, refuse(std::move(socket)), asio::detached);
      continue;
    }
    auto conn = std::make_shared<connection>(std::move(socket));
    {
      std::lock_guard lock(connections_mutex);
      connections.insert(conn);
    }
    ++active;
    asio::co_spawn(conn->stream.get_executor(), serve(conn), [self, conn](std::exception_ptr) {
      std::lock_guard lock(self->connections_mutex);
      self->connections.erase(conn);
      --self->active;
    });
  }
}

asio::awaitable<void> server::state::refuse(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(2));
  auto res = to_response(too_many_connections(), 11, false, false);
  co_await http::async_write(stream, res, use_tuple);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> server::state::serve(std::shared_ptr<connection> conn) {
  auto self = shared_from_this();
  beast::flat_buffer buffer;
  bool first = true;
  while (!stopping) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    // The body limit is set per route once the headers are in (Beast would otherwise fail
    // the header read itself on a large Content-Length, before we can answer 413).
    parser.body_limit(boost::none);
    conn->stream.expires_after(first ? options.header_timeout : options.idle_timeout);
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
        conn->stream.expires_after(std::chrono::seconds(5));
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
      answer = co_await handle_webhook(conn, buffer, parser, routed.source);
      metrics.count_webhook_response(routed.source, answer.status);
      if (answer.status >= 400) log_refusal(routed.source, {}, answer);
    } else {
      // Other routes take no body; one that comes anyway is read (small) or the connection closed.
      if (!parser.is_done()) {
        parser.body_limit(64 * 1024);
        conn->stream.expires_after(options.body_timeout);
        auto [rec, n] = co_await http::async_read(conn->stream, buffer, parser, use_tuple);
        (void)n;
        if (rec) keep_alive = false;
      }
      if (routed.kind == route_kind::healthz) {
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
    conn->stream.expires_after(options.body_timeout);
    auto [wec, written] = co_await http::async_write(conn->stream, res, use_tuple);
    (void)written;
    metrics.observe_latency(std::chrono::steady_clock::now() - started);
    conn->busy = false;
    first = false;
    if (wec || res.need_eof()) break;
  }
  beast::error_code ec;
  conn->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  conn->stream.socket().close(ec);
}

asio::awaitable<reply> server::state::handle_webhook(
    std::shared_ptr<connection> conn, beast::flat_buffer& buffer,
    http::request_parser<http::string_body>& parser, const std::string& source) {
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
  if (auto length = parser.content_length(); length && *length > options.max_body_bytes) {
    co_return body_too_large(options.max_body_bytes);  // the rest is not read: close
  }
  parser.body_limit(options.max_body_bytes);
  if (beast::iequals(req[http::field::expect], "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, req.version()};
    conn->stream.expires_after(options.body_timeout);
    auto [cec, cn] = co_await http::async_write(conn->stream, cont, use_tuple);
    (void)cn;
    if (cec)
      co_return reply{400, "{\"error\":\"connection failed\"}", "application/json", {}, true};
  }
  if (!parser.is_done()) {
    conn->stream.expires_after(options.body_timeout);
    auto [ec, n] = co_await http::async_read(conn->stream, buffer, parser, use_tuple);
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
  // The signature covers the raw bytes as received: verify before anything is parsed.
  if (auto refused =
          check_signature(required, std::string_view(req["X-Twilio-Email-Event-Webhook-Timestamp"]),
                          std::string_view(req["X-Twilio-Email-Event-Webhook-Signature"]),
                          req.body(), received_at)) {
    co_return *refused;
  }
  auto parsed = events::parse_owned_batch(std::move(req.body()));
  if (auto* err = std::get_if<events::batch_error>(&parsed)) {
    metrics.count_bad_body(source);
    co_return bad_request(err->message);
  }
  auto& batch = std::get<events::parsed_batch>(parsed);
  if (batch.events.size() + batch.rejected.size() > options.max_events_per_request) {
    reply r;
    r.status = 413;
    r.body =
        "{\"error\":" +
        json_quote("the body holds " + std::to_string(batch.events.size() + batch.rejected.size()) +
                   " elements, more than server.max_events_per_request (" +
                   std::to_string(options.max_events_per_request) + "); nothing was stored") +
        "}";
    co_return r;
  }
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
            (last_ms ? json_quote(store::iso8601_utc(std::chrono::system_clock::time_point(
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
    asio::post(conn->stream.get_executor(), [conn] {
      if (!conn->busy) {
        beast::error_code ec;
        conn->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
        conn->stream.socket().close(ec);
      }
    });
  }
}

}  // namespace sgs::webhook
