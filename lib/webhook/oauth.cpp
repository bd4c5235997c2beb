// OAuth client-credentials token endpoint and bearer check for webhook posts.
#include "webhook/oauth.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include "events/signature.hpp"
#include "webhook/auth.hpp"

namespace sgs::webhook {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
    if (lower(text[i]) != lower(prefix[i])) return false;
  }
  return true;
}

std::string sha256(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), size);
}

std::string base64url(const unsigned char* bytes, std::size_t size) {
  constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | bytes[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += alphabet[(buffer << (6 - bits)) & 0x3f];
  return out;
}

reply oauth_error(int status, std::string_view code, std::string_view description) {
  reply r;
  r.status = status;
  r.body =
      "{\"error\":" + json_quote(code) + ",\"error_description\":" + json_quote(description) + "}";
  // RFC 6749 5.1/5.2: token responses must not be cached.
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Pragma", "no-cache");
  return r;
}

}  // namespace

std::optional<std::map<std::string, std::string>> parse_form(std::string_view body) {
  std::map<std::string, std::string> fields;
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto name = form_decode(pair.substr(0, eq));
    auto value =
        form_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    if (!fields.emplace(std::move(*name), std::move(*value)).second) return std::nullopt;
  }
  return fields;
}

std::optional<std::pair<std::string, std::string>> parse_basic_credentials(
    std::string_view authorization) {
  if (!starts_with_ignoring_case(authorization, "Basic ")) return std::nullopt;
  std::string_view encoded = authorization.substr(6);
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  std::string decoded;
  if (encoded.empty() || !events::decode_base64(encoded, decoded)) return std::nullopt;
  const std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto id = form_decode(std::string_view(decoded).substr(0, colon));
  auto secret = form_decode(std::string_view(decoded).substr(colon + 1));
  if (!id || !secret) return std::nullopt;
  return std::pair{std::move(*id), std::move(*secret)};
}

std::string token_table::issue(clock::time_point now, std::chrono::seconds ttl) {
  unsigned char random[32];
  if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string token = base64url(random, sizeof random);
  std::string digest = sha256(token);
  std::lock_guard lock(mutex_);
  if (expiry_by_digest_.size() >= max_tokens_) {
    std::erase_if(expiry_by_digest_, [now](const auto& entry) { return entry.second <= now; });
  }
  if (expiry_by_digest_.size() >= max_tokens_ && !expiry_by_digest_.empty()) {
    expiry_by_digest_.erase(
        std::min_element(expiry_by_digest_.begin(), expiry_by_digest_.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
  expiry_by_digest_[std::move(digest)] = now + ttl;
  return token;
}

token_table::verdict token_table::check(std::string_view token, clock::time_point now) const {
  const std::string digest = sha256(token);
  std::lock_guard lock(mutex_);
  const auto found = expiry_by_digest_.find(digest);
  if (found == expiry_by_digest_.end()) return verdict::unknown;
  return now < found->second ? verdict::valid : verdict::expired;
}

std::size_t token_table::size() const {
  std::lock_guard lock(mutex_);
  return expiry_by_digest_.size();
}

oauth_issuer::oauth_issuer(oauth_client client, now_function now)
    : client_(std::move(client)), now_(std::move(now)) {}

reply oauth_issuer::token_request(std::string_view authorization, std::string_view body) {
  const auto form = parse_form(body);
  if (!form) {
    return oauth_error(400, "invalid_request",
                       "the body must be application/x-www-form-urlencoded, each parameter once");
  }
  const auto field = [&](const char* name) -> std::optional<std::string_view> {
    const auto found = form->find(name);
    if (found == form->end()) return std::nullopt;
    return std::string_view(found->second);
  };
  // The client authenticates first, so a stranger learns nothing about the grant rules.
  std::string id;
  std::string secret;
  if (!authorization.empty()) {
    auto basic = parse_basic_credentials(authorization);
    if (!basic) {
      reply r = oauth_error(401, "invalid_client", "the Authorization header is not valid Basic");
      r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"sendgrid-source\"");
      return r;
    }
    if (field("client_secret")) {
      return oauth_error(400, "invalid_request",
                         "client credentials came both in the Authorization header and the body");
    }
    std::tie(id, secret) = std::move(*basic);
  } else {
    id = std::string(field("client_id").value_or(""));
    secret = std::string(field("client_secret").value_or(""));
  }
  // Both compared in full, whatever the first one gave, so timing reveals neither.
  const bool id_ok = constant_time_equal(id, client_.client_id);
  const bool secret_ok = constant_time_equal(secret, client_.client_secret);
  if (!(id_ok & secret_ok)) {
    reply r = oauth_error(401, "invalid_client", "unknown client or wrong client secret");
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"sendgrid-source\"");
    return r;
  }
  const auto grant = field("grant_type");
  if (!grant) return oauth_error(400, "invalid_request", "grant_type is missing");
  if (*grant != "client_credentials") {
    return oauth_error(400, "unsupported_grant_type", "only grant_type=client_credentials");
  }
  const std::string token = tokens_.issue(now_(), client_.token_ttl);
  reply r;
  r.body = "{\"access_token\":" + json_quote(token) + ",\"token_type\":\"Bearer\",\"expires_in\":" +
           std::to_string(client_.token_ttl.count()) + "}";
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Pragma", "no-cache");
  return r;
}

std::optional<reply> oauth_issuer::check_bearer(std::string_view authorization) const {
  const auto refuse = [](std::string_view code, std::string_view description) {
    reply r;
    r.status = 401;
    r.body = "{\"error\":" + json_quote(code) + ",\"error_description\":" +
             json_quote(std::string(description) + "; nothing was stored") + "}";
    std::string challenge = "Bearer realm=\"sendgrid-source\"";
    if (code == "invalid_token") challenge += ", error=\"invalid_token\"";
    r.headers.emplace_back("WWW-Authenticate", std::move(challenge));
    return r;
  };
  if (!starts_with_ignoring_case(authorization, "Bearer ")) {
    return refuse("invalid_request",
                  "this source requires an OAuth bearer token from POST /oauth/token/<source>");
  }
  std::string_view token = authorization.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  switch (tokens_.check(token, now_())) {
    case token_table::verdict::valid:
      return std::nullopt;
    case token_table::verdict::expired:
      return refuse("invalid_token", "the access token has expired; fetch a new one");
    case token_table::verdict::unknown:
      break;
  }
  return refuse("invalid_token", "the access token is not one this server issued");
}

}  // namespace sgs::webhook
