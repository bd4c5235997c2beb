// Request authentication for the webhook endpoint: basic auth and signed-webhook headers.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "events/signature.hpp"
#include "webhook/routes.hpp"
#include "webhook/stored_keys.hpp"

namespace sgs::webhook {

class oauth_issuer;

// What one source requires of a webhook POST. Shared read-only between connections.
struct source_auth {
  std::optional<std::string> basic_auth_header;          // the exact Authorization value expected
  const events::signature_verifier* verifier = nullptr;  // signed webhooks when set
  std::optional<std::int64_t> max_age_seconds;           // refuse older signature timestamps
  // Keys stored by `webhook configure` in the source's database (refreshed while running):
  // signed webhooks are required as soon as it holds one. Owned elsewhere; may be null.
  stored_keys* stored = nullptr;
  oauth_issuer* oauth = nullptr;  // bearer tokens required when set; owned by the daemon
};

// "Basic " + base64("user:password").
std::string basic_auth_header(std::string_view user_colon_password);

// Compares without an early exit, so the time taken does not reveal how much matched.
bool constant_time_equal(std::string_view a, std::string_view b);

// nullopt when the Authorization header satisfies basic auth (or none is configured); else
// the 401 answer with WWW-Authenticate.
std::optional<reply> check_basic_auth(const source_auth& auth, std::string_view authorization);

// nullopt when the signature headers verify over the raw body with a configured or a stored
// key (or the source has neither); else the 403 answer. `now` is injected for the max-age check.
std::optional<reply> check_signature(const source_auth& auth, std::string_view timestamp,
                                     std::string_view signature, std::string_view raw_body,
                                     std::chrono::system_clock::time_point now);

}  // namespace sgs::webhook
