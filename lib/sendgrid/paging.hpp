// Pure URL decisions: path segments built from data, and where a `_metadata.next` link may be
// fetched with our key.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sgs::sendgrid {

// api_base + "/v3/..." (api_base has no trailing '/').
std::string api_url(std::string_view api_base, std::string_view path_and_query);

// `value` (an id from an answer, a name) as one URL path segment: every byte except RFC 3986's
// unreserved characters (ALPHA DIGIT - . _ ~) is percent-encoded, so an id holding ' ', '/',
// '?', '#' or '%' stays one segment and reaches SendGrid as it was given ("." and ".." are
// encoded whole, or they would be taken for dot-segments). Every path segment
// built from data goes through it.
std::string path_segment(std::string_view value);

// The URL to request for a `_metadata.next` link. SendGrid gives full URLs
// ("https://api.sendgrid.com/v3/marketing/lists?page_size=100&page_token=..."). When the
// link is on api_base it is used as it is; when it names another origin (the global host
// while api_base is the EU host, or anything unexpected) its path and query are requested
// from api_base instead, so the API key is only ever sent to api_base. A link that is only
// a path ("/v3/...") is put on api_base too. nullopt for an empty link (the last page) or one
// that is neither a URL nor a path.
std::optional<std::string> next_page_url(std::string_view api_base, std::string_view next);

}  // namespace sgs::sendgrid
