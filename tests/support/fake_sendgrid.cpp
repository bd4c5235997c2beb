// The fake SendGrid API: Beast over blocking sockets, one thread per connection, the account
// model and fault injection.
#include "fake_sendgrid.hpp"

#include <sys/socket.h>
#include <zlib.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

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
    return json(200, R"({"results":)" + join(a.segments, 0, a.segments.size()) +
                         R"(,"_metadata":{"self":")" + base_url() + req.path + "\"}}");
  }
  if (req.method == "POST" && req.path == "/v3/marketing/contacts/exports") {
    export_polls_ = 0;
    ++export_jobs_;
    return json(202, R"({"id":"job-)" + std::to_string(export_jobs_) + R"(","_metadata":{}})");
  }
  if (req.method == "GET" && req.path.rfind("/v3/marketing/contacts/exports/", 0) == 0) {
    const std::string id = req.path.substr(std::string("/v3/marketing/contacts/exports/").size());
    if (id != "job-" + std::to_string(export_jobs_))
      return json(404, R"({"errors":[{"field":null,"message":"not found"}]})");
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

}  // namespace sgs::test
