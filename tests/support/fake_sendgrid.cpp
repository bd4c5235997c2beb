// The fake SendGrid API: Beast over blocking sockets, one thread per connection, the account
// model and fault injection.
#include "fake_sendgrid.hpp"

#include <simdjson.h>
#include <sys/socket.h>
#include <zlib.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <utility>

#include "http_client.hpp"

namespace sgs::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string join(const std::vector<std::string>& items, std::size_t from, std::size_t to) {
  std::string out = "[";
  for (std::size_t i = from; i < to && i < items.size(); ++i) {
    if (i > from) out += ",";
    out += items[i];
  }
  return out + "]";
}

fake_response json(int status, std::string body) {
  fake_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

int int_or(const std::string& text, int fallback) {
  if (text.empty()) return fallback;
  try {
    return std::stoi(text);
  } catch (...) {
    return fallback;
  }
}

// The id in a request path: exactly one segment (a raw '/' makes it two: nullopt), percent-
// decoded; nullopt for a malformed escape.
std::optional<std::string> id_segment(std::string_view raw) {
  if (raw.empty() || raw.find('/') != std::string_view::npos) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      out += raw[i];
      continue;
    }
    if (i + 2 >= raw.size()) return std::nullopt;
    const std::string hex(raw.substr(i + 1, 2));
    if (!std::isxdigit(static_cast<unsigned char>(hex[0])) ||
        !std::isxdigit(static_cast<unsigned char>(hex[1])))
      return std::nullopt;
    out += static_cast<char>(std::stoi(hex, nullptr, 16));
    i += 2;
  }
  return out;
}

}  // namespace

std::string fake_request::query(const std::string& name) const {
  const auto q = target.find('?');
  if (q == std::string::npos) return {};
  std::string_view rest(target);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

struct fake_sendgrid::impl {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::thread accept_thread;
  std::mutex sockets_mutex;
  std::vector<std::unique_ptr<tcp::socket>> sockets;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
};

fake_sendgrid::fake_sendgrid() : impl_(std::make_unique<impl>()) {
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(128);
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] { accept_loop(); });
}

fake_sendgrid::~fake_sendgrid() {
  impl_->stopping = true;
  {
    std::vector<std::thread> posting;
    {
      std::lock_guard lock(mutex_);
      posting.swap(test_threads_);
    }
    for (auto& t : posting) t.join();
  }
  // Unblock accept() and every read() by shutting the descriptors down under them.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  impl_->accept_thread.join();
  {
    std::lock_guard lock(impl_->sockets_mutex);
    for (auto& s : impl_->sockets) ::shutdown(s->native_handle(), SHUT_RDWR);
  }
  for (auto& t : impl_->threads) t.join();
}

std::string fake_sendgrid::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void fake_sendgrid::edit(const std::function<void(fake_account&)>& edit) {
  std::lock_guard lock(mutex_);
  edit(account_);
}

void fake_sendgrid::inject(const std::string& path_prefix, fake_response response) {
  std::lock_guard lock(mutex_);
  injected_.emplace_back(path_prefix, std::move(response));
}

void fake_sendgrid::override_path(const std::string& path_prefix, fake_response response) {
  std::lock_guard lock(mutex_);
  overrides_.emplace_back(path_prefix, std::move(response));
}

std::vector<int> fake_sendgrid::test_post_statuses() const {
  std::lock_guard lock(mutex_);
  return test_posts_;
}

bool fake_sendgrid::wait_test_posts(std::size_t n, std::chrono::milliseconds timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    {
      std::lock_guard lock(mutex_);
      if (test_posts_.size() >= n) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::vector<fake_request> fake_sendgrid::requests() const {
  std::lock_guard lock(mutex_);
  return log_;
}

int fake_sendgrid::count(const std::string& path_prefix) const {
  std::lock_guard lock(mutex_);
  int n = 0;
  for (const auto& r : log_) n += r.path.rfind(path_prefix, 0) == 0 ? 1 : 0;
  return n;
}

void fake_sendgrid::accept_loop() {
  while (!impl_->stopping) {
    auto socket = std::make_unique<tcp::socket>(impl_->ioc);
    beast::error_code ec;
    impl_->acceptor.accept(*socket, ec);
    if (ec || impl_->stopping) return;
    std::lock_guard lock(impl_->sockets_mutex);
    impl_->sockets.push_back(std::move(socket));
    const int slot = static_cast<int>(impl_->sockets.size()) - 1;
    impl_->threads.emplace_back([this, slot] { serve_connection(slot); });
  }
}

void fake_sendgrid::serve_connection(int slot) {
  tcp::socket* socket;
  {
    std::lock_guard lock(impl_->sockets_mutex);
    socket = impl_->sockets[static_cast<std::size_t>(slot)].get();
  }
  beast::flat_buffer buffer;
  while (!impl_->stopping) {
    http::request<http::string_body> req;
    beast::error_code ec;
    http::read(*socket, buffer, req, ec);
    if (ec) return;
    fake_request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.path = r.target.substr(0, r.target.find('?'));
    r.body = req.body();
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(f.value());
    }
    const fake_response answer = handle(r);
    // A slow server: wait in small steps so the destructor is never held up for long.
    for (auto waited = std::chrono::milliseconds(0); waited < answer.delay && !impl_->stopping;
         waited += std::chrono::milliseconds(5)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    http::response<http::string_body> res{static_cast<http::status>(answer.status), req.version()};
    res.set(http::field::content_type, answer.content_type);
    for (const auto& [k, v] : answer.headers) res.set(k, v);
    res.body() = answer.body;
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    http::write(*socket, res, ec);
    if (ec || !req.keep_alive()) return;
  }
}

fake_response fake_sendgrid::handle(const fake_request& req) {
  std::lock_guard lock(mutex_);
  log_.push_back(req);
  for (auto it = injected_.begin(); it != injected_.end(); ++it) {
    if (req.path.rfind(it->first, 0) == 0) {
      fake_response r = std::move(it->second);
      injected_.erase(it);
      return r;
    }
  }
  for (const auto& [prefix, r] : overrides_) {
    if (req.path.rfind(prefix, 0) == 0) return r;
  }
  return serve_account(req);
}

fake_response fake_sendgrid::serve_account(const fake_request& req) {
  const auto& a = account_;
  const auto auth = req.headers.find("authorization");
  // Export files are pre-signed storage URLs: like S3, they refuse a second credential.
  if (req.path.rfind("/files/", 0) == 0) {
    if (auth != req.headers.end()) {
      fake_response r;
      r.status = 400;
      r.content_type = "application/xml";
      r.body =
          "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism "
          "allowed</Message></Error>";
      return r;
    }
    const auto index = static_cast<std::size_t>(int_or(req.path.substr(7), -1));
    if (index >= a.export_files.size()) return json(404, "not found");
    fake_response r;
    r.content_type = "application/gzip";
    r.body = a.export_files[index];
    return r;
  }
  if (auth == req.headers.end() || auth->second != "Bearer " + a.api_key) {
    return json(401, std::string(sendgrid_401_body));
  }
  bool handled = false;
  fake_response collections = serve_collections(req, handled);
  if (handled) return collections;
  fake_response setup = serve_setup(req, handled);
  if (handled) return setup;
  const bool marketing = req.path.rfind("/v3/marketing/", 0) == 0;
  const bool legacy_path =
      req.path.rfind("/v3/contactdb/", 0) == 0 || req.path.rfind("/v3/campaigns", 0) == 0;
  if ((marketing && a.legacy) || (legacy_path && !a.legacy))
    return json(403, std::string(sendgrid_403_body));

  auto token_paged = [&](const std::vector<std::string>& items, const std::string& path) {
    const int size = int_or(req.query("page_size"), 100);
    const int offset = int_or(req.query("page_token"), 0);
    const auto end = static_cast<std::size_t>(offset + size);
    std::string body = R"({"result":)" + join(items, static_cast<std::size_t>(offset), end) +
                       R"(,"_metadata":{"self":")" + base_url() + req.target + "\"";
    if (end < items.size()) {
      body += R"(,"next":")" + base_url() + path + "?page_size=" + std::to_string(size) +
              "&page_token=" + std::to_string(end) + "\"";
    }
    body += R"(,"count":)" + std::to_string(items.size()) + "}}";
    return json(200, body);
  };

  if (req.method == "GET" && req.path == "/v3/marketing/lists")
    return token_paged(a.lists, req.path);
  if (req.method == "GET" && req.path == "/v3/marketing/singlesends")
    return token_paged(a.singlesends, req.path);
  if (req.method == "GET" && req.path == "/v3/marketing/segments/2.0") {
    if (a.segments_page_size == 0) {
      return json(200, R"({"results":)" + join(a.segments, 0, a.segments.size()) +
                           R"(,"_metadata":{"self":")" + base_url() + req.path + "\"}}");
    }
    // Paged with _metadata.next links (not documented for segments, but possible).
    const auto size = static_cast<std::size_t>(a.segments_page_size);
    const auto offset = static_cast<std::size_t>(int_or(req.query("page_token"), 0));
    std::string body = R"({"results":)" + join(a.segments, offset, offset + size) +
                       R"(,"_metadata":{"self":")" + base_url() + req.target + "\"";
    if (offset + size < a.segments.size()) {
      const std::string next =
          a.segments_next_link.empty()
              ? base_url() + req.path + "?page_token=" + std::to_string(offset + size)
              : a.segments_next_link;
      body += R"(,"next":")" + next + "\"";
    }
    return json(200, body + "}}");
  }
  auto job_id = [&] {
    return a.export_job_id.empty() ? "job-" + std::to_string(export_jobs_) : a.export_job_id;
  };
  if (req.method == "POST" && req.path == "/v3/marketing/contacts/exports") {
    export_polls_ = 0;
    ++export_jobs_;
    return json(202, R"({"id":")" + job_id() + R"(","_metadata":{}})");
  }
  if (req.method == "GET" && req.path.rfind("/v3/marketing/contacts/exports/", 0) == 0) {
    const auto decoded = id_segment(
        std::string_view(req.path).substr(std::string("/v3/marketing/contacts/exports/").size()));
    if (!decoded || *decoded != job_id())
      return json(404, R"({"errors":[{"field":null,"message":"not found"}]})");
    const std::string id = *decoded;
    if (a.export_fails) {
      return json(200, R"({"id":")" + id +
                           R"(","status":"failure","message":"export failed: internal error"})");
    }
    if (export_polls_++ < a.export_pending_polls) {
      return json(
          200, R"({"id":")" + id + R"(","status":"pending","created_at":"2026-01-01T00:00:00Z"})");
    }
    std::string urls;
    for (std::size_t i = 0; i < a.export_files.size(); ++i) {
      urls += (i ? ",\"" : "\"") + base_url() + "/files/" + std::to_string(i) + "\"";
    }
    // An account without contacts: no files, and contact_count 0 (unless told to omit it).
    const std::string count =
        a.export_files.empty() && !a.export_omits_count ? R"(,"contact_count":0)" : "";
    return json(200,
                R"({"id":")" + id + R"(","status":"ready","urls":[)" + urls + "]" + count + "}");
  }
  if (req.method == "GET" && req.path == "/v3/contactdb/lists") {
    return json(200, R"({"lists":)" + join(a.legacy_lists, 0, a.legacy_lists.size()) + "}");
  }
  if (req.method == "GET" && req.path == "/v3/contactdb/segments") {
    return json(200,
                R"({"segments":)" + join(a.legacy_segments, 0, a.legacy_segments.size()) + "}");
  }
  if (req.method == "GET" && req.path == "/v3/campaigns") {
    const auto limit = static_cast<std::size_t>(int_or(req.query("limit"), 10));
    const auto offset = static_cast<std::size_t>(int_or(req.query("offset"), 0));
    return json(200, R"({"result":)" + join(a.legacy_campaigns, offset, offset + limit) + "}");
  }
  if (req.method == "GET" && req.path == "/v3/contactdb/recipients") {
    const int size = int_or(req.query("page_size"), 100);
    const int number = int_or(req.query("page"), 1);
    const int data_pages =
        static_cast<int>((a.legacy_recipients.size() + static_cast<std::size_t>(size) - 1) /
                         static_cast<std::size_t>(size));
    const int total = data_pages + static_cast<int>(a.legacy_empty_pages.size());
    if (number < 1 || number > total)
      return json(404, R"({"errors":[{"field":null,"message":"not found"}]})");
    int data_index = number - 1;
    for (int empty : a.legacy_empty_pages) {
      if (empty == number) return json(200, R"({"recipients":[]})");
      if (empty < number) --data_index;
    }
    const auto from = static_cast<std::size_t>(data_index * size);
    return json(200, R"({"recipients":)" +
                         join(a.legacy_recipients, from, from + static_cast<std::size_t>(size)) +
                         "}");
  }
  return json(404, R"({"errors":[{"field":null,"message":"not found"}]})");
}

namespace {

constexpr const char* webhook_switches[] = {"processed",
                                            "dropped",
                                            "delivered",
                                            "deferred",
                                            "bounce",
                                            "open",
                                            "click",
                                            "spam_report",
                                            "unsubscribe",
                                            "group_unsubscribe",
                                            "group_resubscribe",
                                            "account_status_change"};

std::string json_str(const std::string& s) { return "\"" + s + "\""; }

std::string webhook_json(const fake_webhook& w, const std::string& key_override) {
  std::string out = R"({"id":)" + json_str(w.id) + R"(,"url":)" + json_str(w.url) +
                    R"(,"enabled":)" + (w.enabled ? "true" : "false");
  for (const char* name : webhook_switches) {
    auto it = w.events.find(name);
    out +=
        ",\"" + std::string(name) + "\":" + (it != w.events.end() && it->second ? "true" : "false");
  }
  out += R"(,"friendly_name":null,"oauth_client_id":null,"oauth_token_url":null)";
  if (w.signer)
    out += R"(,"public_key":)" +
           json_str(key_override.empty() ? w.signer->public_key() : key_override);
  return out + R"(,"created_date":"2026-01-01T00:00:00Z","updated_date":"2026-01-01T00:00:00Z"})";
}

// Applies the fields of an EventWebhookRequest body; false when it is not a JSON object.
bool apply_settings(fake_webhook& w, const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS || !doc.is_object()) return false;
  std::string_view url;
  if (doc["url"].get_string().get(url) == simdjson::SUCCESS) w.url = std::string(url);
  bool b = false;
  if (doc["enabled"].get_bool().get(b) == simdjson::SUCCESS) w.enabled = b;
  for (const char* name : webhook_switches) {
    if (doc[name].get_bool().get(b) == simdjson::SUCCESS) w.events[name] = b;
  }
  return true;
}

std::string json_string_field(const std::string& body, const char* key) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view v;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS) return {};
  if (doc[key].get_string().get(v) != simdjson::SUCCESS) return {};
  return std::string(v);
}

}  // namespace

fake_response fake_sendgrid::serve_setup(const fake_request& req, bool& handled) {
  auto& a = account_;
  handled = true;
  const std::string& p = req.path;
  auto allowed = [&](const char* scope) {
    return std::find(a.scopes.begin(), a.scopes.end(), scope) != a.scopes.end();
  };
  auto forbidden = [] { return json(403, std::string(sendgrid_403_body)); };
  if (req.method == "GET" && p == "/v3/scopes") {
    std::string list;
    for (const auto& sc : a.scopes) list += (list.empty() ? "" : ",") + json_str(sc);
    return json(200, R"({"scopes":[)" + list + "]}");
  }
  if (req.method == "GET" && p == "/v3/whitelabel/domains") {
    if (!allowed("whitelabel.read")) return forbidden();
    // limit/offset paging, as SendGrid documents for this endpoint.
    const int limit = int_or(req.query("limit"), 1000);
    const int offset = int_or(req.query("offset"), 0);
    std::string out = "[";
    int id = 1;
    for (const auto& [domain, valid] : a.domains) {
      const int this_id = id++;
      if (this_id <= offset || this_id > offset + limit) continue;
      out +=
          (out.size() > 1 ? "," : "") + std::string(R"({"id":)") + std::to_string(this_id) +
          R"(,"user_id":7,"subdomain":"em123","domain":)" + json_str(domain) +
          R"(,"username":"acct","ips":[],"custom_spf":false,"default":true,"legacy":false,"automatic_security":true,"valid":)" +
          (valid ? "true" : "false") + "}";
    }
    return json(200, out + "]");
  }
  if (req.method == "GET" && p == "/v3/verified_senders") {
    if (a.senders_forbidden) return forbidden();
    // limit/lastSeenID paging: the senders after the id last seen.
    const int limit = int_or(req.query("limit"), 1000);
    const int last_seen = int_or(req.query("lastSeenID"), 0);
    std::string out = R"({"results":[)";
    const auto empty = out.size();
    int id = 1;
    int listed = 0;
    for (const auto& [email, verified] : a.senders) {
      const int this_id = id++;
      if (this_id <= last_seen || listed == limit) continue;
      ++listed;
      out += (out.size() > empty ? "," : "") + std::string(R"({"id":)") + std::to_string(this_id) +
             R"(,"nickname":"n","from_email":)" + json_str(email) +
             R"(,"from_name":"F","verified":)" + (verified ? "true" : "false") +
             R"(,"locked":false})";
    }
    return json(200, out + "]}");
  }
  if (req.method == "GET" && p == "/v3/asm/groups") {
    if (!allowed("asm.groups.read")) return forbidden();
    std::string out = "[";
    for (std::size_t i = 0; i < a.groups.size(); ++i) {
      out += (i ? "," : "") + std::string(R"({"id":)") + std::to_string(a.groups[i].first) +
             R"(,"name":)" + json_str(a.groups[i].second) +
             R"(,"description":"d","is_default":false,"unsubscribes":0})";
    }
    return json(200, out + "]");
  }
  const std::string base = "/v3/user/webhooks/event/";
  if (p.rfind(base, 0) != 0) {
    handled = false;
    return {};
  }
  const bool read = req.method == "GET";
  if (!allowed(read ? "user.webhooks.event.settings.read"
                    : "user.webhooks.event.settings.update") &&
      p != base + "test")
    return forbidden();
  auto find = [&](const std::string& id) -> fake_webhook* {
    for (auto& w : a.webhooks)
      if (w.id == id) return &w;
    return nullptr;
  };
  auto invalid_id = [] { return json(404, R"({"errors":[{"message":"Invalid id provided."}]})"); };
  const std::string settings = base + "settings";
  if (p == settings + "/all" && read) {
    if (!a.multi_webhook_api)
      return json(404, R"({"errors":[{"field":null,"message":"not found"}]})");
    std::string out = R"({"max_allowed":)" + std::to_string(a.max_webhooks) + R"(,"webhooks":[)";
    for (std::size_t i = 0; i < a.webhooks.size(); ++i)
      out += (i ? "," : "") + webhook_json(a.webhooks[i], a.public_key_override);
    return json(200, out + "]}");
  }
  if (p == settings && read) {  // legacy: the oldest webhook
    if (a.webhooks.empty()) return json(200, R"({"enabled":false,"url":""})");
    return json(200, webhook_json(a.webhooks.front(), a.public_key_override));
  }
  if (p == settings + "/signed" && read) {
    const bool on = !a.webhooks.empty() && a.webhooks.front().signer;
    return json(200, R"({"public_key":)" +
                         json_str(on ? a.webhooks.front().signer->public_key() : "") + "}");
  }
  if (p == settings && req.method == "POST") {
    fake_webhook w;
    if (!apply_settings(w, req.body) || w.url.empty())
      return json(400, R"({"errors":[{"message":"url is required"}]})");
    for (const auto& existing : a.webhooks) {
      if (existing.url == w.url) {
        return json(400, R"({"errors":[{"id":)" + json_str(existing.id) +
                             R"(,"message":"Webhook at ')" + w.url +
                             R"(' already exists. Please provide a unique URL.","url":)" +
                             json_str(w.url) + "}]}");
      }
    }
    if (static_cast<int>(a.webhooks.size()) >= a.max_webhooks) {
      return json(
          400,
          R"({"errors":[{"message":"You have reached the maximum number of webhooks per your current billing plan."}]})");
    }
    w.id = "77d4a5da-7015-11ed-a1eb-0242ac12000" + std::to_string(++webhooks_created_);
    if (!a.next_webhook_id.empty()) w.id = std::exchange(a.next_webhook_id, {});
    a.webhooks.push_back(w);
    return json(201, webhook_json(w, {}));
  }
  const std::string signed_prefix = settings + "/signed/";
  if (p.rfind(signed_prefix, 0) == 0) {
    const auto id = id_segment(std::string_view(p).substr(signed_prefix.size()));
    fake_webhook* w = id ? find(*id) : nullptr;
    if (!w) return invalid_id();
    if (req.method == "PATCH") {
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      bool enabled = false;
      if (parser.parse(req.body).get(doc) != simdjson::SUCCESS ||
          doc["enabled"].get_bool().get(enabled) != simdjson::SUCCESS)
        return json(400, R"({"errors":[{"message":"enabled is required"}]})");
      // Enabling makes a new key pair (unless on already); disabling deletes it.
      if (!enabled) w->signer.reset();
      if (enabled && !w->signer) w->signer = std::make_shared<test_signer>();
    }
    const std::string key = !w->signer                      ? ""
                            : a.public_key_override.empty() ? w->signer->public_key()
                                                            : a.public_key_override;
    return json(200, R"({"id":)" + json_str(w->id) + R"(,"public_key":)" + json_str(key) + "}");
  }
  const std::string id_prefix = settings + "/";
  if (p.rfind(id_prefix, 0) == 0) {
    const auto id = id_segment(std::string_view(p).substr(id_prefix.size()));
    fake_webhook* w = id ? find(*id) : nullptr;
    if (!w) return invalid_id();
    if (req.method == "PATCH" && !apply_settings(*w, req.body))
      return json(400, R"({"errors":[{"message":"invalid body"}]})");
    return json(200, webhook_json(*w, a.public_key_override));
  }
  if (p == base + "test" && req.method == "POST") {
    if (!allowed("user.webhooks.event.test.create")) return forbidden();
    const std::string url = json_string_field(req.body, "url");
    if (url.empty()) return json(400, R"({"errors":[{"message":"url is required"}]})");
    std::shared_ptr<test_signer> signer;
    if (fake_webhook* w = find(json_string_field(req.body, "id"))) signer = w->signer;
    // SendGrid posts the test batch on its own time, after answering.
    test_threads_.emplace_back([this, url, signer] { post_test_events(url, signer); });
    return json(204, "");
  }
  return json(404, R"({"errors":[{"field":null,"message":"not found"}]})");
}

void fake_sendgrid::post_test_events(std::string url, std::shared_ptr<test_signer> signer) {
  // Only ever posts to 127.0.0.1: "http://127.0.0.1:PORT/path".
  const std::string prefix = "http://127.0.0.1:";
  int status = 0;
  if (url.rfind(prefix, 0) == 0) {
    const auto slash = url.find('/', prefix.size());
    const int port = int_or(url.substr(prefix.size(), slash - prefix.size()), 0);
    int batch;
    {
      std::lock_guard lock(mutex_);
      batch = ++test_batches_;
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string ts = std::to_string(now);
    const std::string id = std::to_string(port) + "-" + std::to_string(batch) + "-" + ts;
    // Shaped like SendGrid's test batch: events joined by ",\r\n", ending in "\r\n".
    const std::string body =
        R"([{"email":"example@test.com","timestamp":)" + ts +
        R"(,"smtp-id":"\u003c14c5d75ce93.dfd.64b469@ismtpd-555\u003e","event":"processed","category":["cat facts"],"sg_event_id":"test-processed-)" +
        id + R"(","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},)" +
        "\r\n" + R"({"email":"example@test.com","timestamp":)" + ts +
        R"(,"event":"open","sg_event_id":"test-open-)" + id +
        R"(","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","useragent":"Mozilla/4.0","ip":"255.255.255.255"}])" +
        "\r\n";
    std::map<std::string, std::string> headers{{"Content-Type", "application/json"}};
    if (signer) {
      headers["X-Twilio-Email-Event-Webhook-Timestamp"] = ts;
      headers["X-Twilio-Email-Event-Webhook-Signature"] = signer->sign(ts, body);
    }
    try {
      http_client client(static_cast<std::uint16_t>(port));
      status =
          client
              .request("POST", slash == std::string::npos ? "/" : url.substr(slash), body, headers)
              .status;
    } catch (...) {
      status = 0;
    }
  }
  std::lock_guard lock(mutex_);
  test_posts_.push_back(status);
}

}  // namespace sgs::test
