// libcurl calls for the SendGrid API and for export downloads.
#include "sendgrid/client.hpp"

#include <curl/curl.h>

#include <mutex>
#include <stdexcept>

namespace sgs::sendgrid {

namespace {

void global_init() {
  // curl_global_init is not thread-safe; do it once for the process.
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("curl_global_init failed");
  });
}

struct curl_deleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using curl_ptr = std::unique_ptr<CURL, curl_deleter>;

struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using slist_ptr = std::unique_ptr<curl_slist, slist_deleter>;

transport_status to_transport(CURLcode rc) {
  switch (rc) {
    case CURLE_OK:
      return transport_status::ok;
    case CURLE_OPERATION_TIMEDOUT:
      return transport_status::timeout;
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_WRITE_ERROR:
      return transport_status::aborted;  // our callbacks said stop
    case CURLE_FILESIZE_EXCEEDED:
      return transport_status::too_large;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
      return transport_status::network;
    default:
      return transport_status::fatal;  // bad URL, certificate rejected, ...
  }
}

// State shared with libcurl's callbacks during one transfer.
struct transfer {
  response* out = nullptr;
  const std::function<bool(std::string_view)>* sink = nullptr;
  const std::function<bool()>* should_abort = nullptr;
  std::size_t max_bytes = 0;
  bool too_large = false;
  CURL* handle = nullptr;
  int status = -1;  // known at the first body byte
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto& t = *static_cast<transfer*>(user);
  const std::size_t bytes = size * n;
  if (t.status < 0) {
    long code = 0;
    curl_easy_getinfo(t.handle, CURLINFO_RESPONSE_CODE, &code);
    t.status = static_cast<int>(code);
  }
  const bool streamed = t.sink && t.status >= 200 && t.status < 300;
  if (streamed) {
    if (t.should_abort && *t.should_abort && (*t.should_abort)()) return 0;
    return (*t.sink)(std::string_view(data, bytes)) ? bytes : 0;
  }
  if (t.out->body.size() + bytes > t.max_bytes) {
    t.too_large = true;
    return 0;
  }
  t.out->body.append(data, bytes);
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto& t = *static_cast<transfer*>(user);
  std::string_view line(data, size * n);
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  if (name == "x-ratelimit-reset") t.out->rate_limit_reset = value;
  if (name == "content-type") t.out->content_type = value;
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& t = *static_cast<transfer*>(user);
  return (t.should_abort && *t.should_abort && (*t.should_abort)()) ? 1 : 0;
}

}  // namespace

struct api_client::handles {
  curl_ptr api;
  curl_ptr download;
};

api_client::api_client(client_options options)
    : options_(std::move(options)), handles_(std::make_unique<handles>()) {
  global_init();
  handles_->api.reset(curl_easy_init());
  handles_->download.reset(curl_easy_init());
  if (!handles_->api || !handles_->download) throw std::runtime_error("curl_easy_init failed");
}

api_client::~api_client() = default;

response api_client::get(std::string_view url) { return perform(true, "GET", url, {}, nullptr); }

response api_client::post_json(std::string_view url, std::string_view body) {
  return perform(true, "POST", url, body, nullptr);
}

response api_client::patch_json(std::string_view url, std::string_view body) {
  return perform(true, "PATCH", url, body, nullptr);
}

response api_client::download(std::string_view url,
                              const std::function<bool(std::string_view)>& sink) {
  return perform(false, "GET", url, {}, &sink);
}

response api_client::perform(bool api, std::string_view method, std::string_view url,
                             std::string_view body,
                             const std::function<bool(std::string_view)>* sink) {
  CURL* c = api ? handles_->api.get() : handles_->download.get();
  // Reset clears every option (and so the previous call's headers) but keeps the
  // connection cache: keep-alive survives between pages.
  curl_easy_reset(c);
  response out;
  transfer t;
  t.out = &out;
  t.sink = sink;
  t.should_abort = &should_abort_;
  t.max_bytes = sink ? 64 * 1024 : options_.max_response_bytes;
  t.handle = c;

  const std::string url_text(url);
  curl_easy_setopt(c, CURLOPT_URL, url_text.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);

  slist_ptr headers;
  auto add_header = [&](const std::string& h) {
    headers.reset(curl_slist_append(headers.release(), h.c_str()));
  };
  std::string auth;
  if (api) {
    // The key is only ever attached here, to requests for api_base URLs (paging.hpp).
    auth = "Authorization: Bearer " + options_.api_key;
    add_header(auth);
    add_header("Accept: application/json");
    if (!options_.on_behalf_of.empty()) add_header("on-behalf-of: " + options_.on_behalf_of);
    // "" = every encoding libcurl was built with (gzip, deflate, ...), decoded transparently.
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (method == "POST" || method == "PATCH") {
      add_header("Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      if (method == "PATCH") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
  } else {
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(std::max<std::int64_t>(
                         1, options_.download_stall_timeout.count() / 1000)));
  }
  // Empty lines out libcurl's own "Expect: 100-continue" on POSTs (one round trip less).
  add_header("Expect:");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  const CURLcode rc = curl_easy_perform(c);
  // The Authorization header text is wiped from our memory right after use.
  std::fill(auth.begin(), auth.end(), '\0');
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  out.status = static_cast<int>(code);
  if (t.too_large) {
    out.transport = transport_status::too_large;
    out.transport_error = "the response is larger than " + std::to_string(t.max_bytes) + " bytes";
  } else {
    out.transport = to_transport(rc);
    if (rc != CURLE_OK)
      out.transport_error = error_buffer[0] ? error_buffer : curl_easy_strerror(rc);
    // A sink that refused data (stop requested, or a parse failure it reported itself).
    if (rc == CURLE_WRITE_ERROR) out.transport_error = "the transfer was stopped";
  }
  return out;
}

}  // namespace sgs::sendgrid
