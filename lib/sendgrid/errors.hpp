// Pure wording of SendGrid failures: error bodies as one sentence, and what an operator does
// about a rejected key.
#pragma once

#include <string>
#include <string_view>

namespace sgs::sendgrid {

// SendGrid's error body as one readable sentence. Handles {"errors":[{"field","message"}]}
// (several errors joined with "; ", the field named when it is not null), {"error": "..."}
// and {"message": "..."}; any other body gives its first line, cut to 200 characters and
// cleaned of control characters; an empty body gives "".
std::string describe_error_body(std::string_view body);

// "HTTP 500 from GET /v3/marketing/lists: internal error" (the query string is left out: it
// may hold page tokens that only make the line long).
std::string http_failure_message(std::string_view method, std::string_view url, int status,
                                 std::string_view body);

// Which permission a request needs, for 403 messages.
inline constexpr std::string_view marketing_permission = "marketing.read";
inline constexpr std::string_view legacy_permission = "marketing_campaigns.read";

// The message for a 401 or 403 (SPEC §3): what was wrong and what to do, never a bare code.
//  401: "the API key for source 'x' was rejected (401): create a key under Settings > API
//       Keys and set api_key_file (SendGrid said: ...)".
//  403: "the API key for source 'x' is not allowed to read <what> (403): give the key the
//       <permission> permission under Settings > API Keys (or create a key that has it) ...".
// `permission` is quoted by the caller and may name alternatives: "'marketing.read' or
// 'marketing_campaigns.read'".
// `on_behalf_of` (may be empty) is named because a subuser that does not exist or is not the
// parent's also answers 401/403.
std::string auth_failure_message(std::string_view source, int status, std::string_view body,
                                 std::string_view what, std::string_view permission,
                                 std::string_view on_behalf_of);

}  // namespace sgs::sendgrid
