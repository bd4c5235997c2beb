// OAuth 2.0 for the webhook as SendGrid uses it: a client-credentials token endpoint per
// source (RFC 6749 4.4) issuing opaque bearer tokens, and the bearer check on webhook posts
// (RFC 6750). Pure apart from OpenSSL's random generator; the clock is injected.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "webhook/routes.hpp"

namespace sgs::webhook {

// application/x-www-form-urlencoded: name=value pairs joined by '&', '+' for space, %XX
// escapes. nullopt when an escape is malformed or a name repeats (RFC 6749 3.2: parameters
// must not be included more than once).
std::optional<std::map<std::string, std::string>> parse_form(std::string_view body);

// "Basic base64(id:secret)" as RFC 6749 2.3.1 sends client credentials (each part
// form-url-encoded before base64). nullopt for another scheme or a malformed value.
std::optional<std::pair<std::string, std::string>> parse_basic_credentials(
    std::string_view authorization);

// The tokens issued for one source: SHA-256 digests of the tokens (the tokens themselves are
// never kept) with their expiry. Bounded: at `max_tokens` the expired ones go first, then the
// one that expires soonest. Thread-safe.
//
// Lookups are by digest in a hash table: an attacker timing them learns about digests of
// their guesses, not about any token, so this is as good as a constant-time comparison.
class token_table {
 public:
  using clock = std::chrono::steady_clock;
  enum class verdict { valid, unknown, expired };

  explicit token_table(std::size_t max_tokens = 10000) : max_tokens_(max_tokens) {}

  // A new random token (32 bytes from RAND_bytes, base64url) valid until now + ttl.
  std::string issue(clock::time_point now, std::chrono::seconds ttl);
  verdict check(std::string_view token, clock::time_point now) const;
  std::size_t size() const;

 private:
  std::size_t max_tokens_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, clock::time_point> expiry_by_digest_;
};

struct oauth_client {
  std::string client_id;
  std::string client_secret;
  std::chrono::seconds token_ttl{3600};
};

// One source's OAuth: its client and the tokens issued to it. Owned by the daemon (one per
// source with OAuth), shared by every connection; thread-safe. Never logs; the secret and
// the tokens appear in no answer other than the token response itself.
class oauth_issuer {
 public:
  using now_function = std::function<token_table::clock::time_point()>;
  explicit oauth_issuer(oauth_client client, now_function now = token_table::clock::now);

  // POST /oauth/token/<source>: 200 with {"access_token","token_type":"Bearer","expires_in"};
  // 400 invalid_request (bad form, two authentication methods), 401 invalid_client (wrong or
  // missing credentials), 400 unsupported_grant_type (anything but client_credentials).
  reply token_request(std::string_view authorization, std::string_view body);

  // nullopt when `authorization` is "Bearer <a valid token>"; else the 401 with
  // WWW-Authenticate: Bearer and an RFC 6750 error code in the body (invalid_request when no
  // token came, invalid_token when unknown or expired: SendGrid then fetches a new one).
  std::optional<reply> check_bearer(std::string_view authorization) const;

  const token_table& tokens() const { return tokens_; }

 private:
  oauth_client client_;
  now_function now_;
  token_table tokens_;
};

}  // namespace sgs::webhook
