// Pure parsing of the SendGrid answers the set-up commands read: key scopes, authenticated
// domains, verified senders, unsubscribe groups and Event Webhooks (sendgrid-api.md §1, §11).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sgs::setup {

// GET /v3/scopes -> {"scopes": [...]}; nullopt when the body is not that shape.
std::optional<std::vector<std::string>> parse_scopes(std::string_view body);

struct authenticated_domain {
  std::string domain;  // "example.com"
  bool valid = false;  // DNS records verified
};
// GET /v3/whitelabel/domains -> a JSON array of domain objects.
std::optional<std::vector<authenticated_domain>> parse_domains(std::string_view body);

struct sender_identity {
  std::int64_t id = 0;
  std::string from_email;
  bool verified = false;
};
// GET /v3/verified_senders -> {"results": [...]} (verified and unverified senders).
std::optional<std::vector<sender_identity>> parse_senders(std::string_view body);

// The items of one page of a paged list, each as JSON text, with the paging cursor: the
// elements of GET /v3/whitelabel/domains (a JSON array, limit/offset paging) or of the
// "results" of GET /v3/verified_senders (limit/lastSeenID paging). nullopt when the body is
// not that shape.
struct list_page {
  std::vector<std::string> items;
  std::int64_t last_id = 0;  // the "id" of the last item (0 when absent): the next lastSeenID
};
std::optional<list_page> parse_domain_page(std::string_view body);
std::optional<list_page> parse_sender_page(std::string_view body);

struct unsubscribe_group {
  std::int64_t id = 0;
  std::string name;
};
// GET /v3/asm/groups -> a JSON array of groups.
std::optional<std::vector<unsubscribe_group>> parse_groups(std::string_view body);

// The event-type switches of an Event Webhook, by their API names (open, click, spam_report,
// ...), in the order we store them.
std::vector<std::string_view> stored_event_switches();

struct event_webhook {
  std::string id;  // "" on the legacy single-webhook endpoint
  std::string url;
  bool enabled = false;
  std::vector<std::string> events_on;  // the switches that are true, API names
  std::string public_key;              // "" when signing is off
};

struct webhook_list {
  std::int64_t max_allowed = 0;  // 0 when not stated
  std::vector<event_webhook> webhooks;
};
// GET /v3/user/webhooks/event/settings/all -> {"max_allowed": 5, "webhooks": [...]}.
// Entries without a url (the spec's "webhooks":[{}] for an account with none) are skipped.
std::optional<webhook_list> parse_webhook_list(std::string_view body);
// One webhook object: the legacy GET /v3/user/webhooks/event/settings, and the answers of
// POST (create) and PATCH /settings/{id}.
std::optional<event_webhook> parse_webhook(std::string_view body);
// PATCH or GET /v3/user/webhooks/event/settings/signed[/{id}] -> {"public_key": "..."}
// ("" when signing is off).
std::optional<std::string> parse_public_key(std::string_view body);

// The "id" SendGrid names in a 400 "Webhook at '<url>' already exists" answer; "" if absent.
std::string duplicate_webhook_id(std::string_view body);

// The JSON body that points a webhook at `url`, enables it and the `event_types` (switch
// names; webhook_event_types of the source). The other switches are left out, so an update
// keeps them as they are (an operator may have turned on more); so are OAuth and
// friendly_name.
std::string webhook_settings_body(std::string_view url,
                                  const std::vector<std::string>& event_types);

// Two webhook URLs name the same endpoint: scheme and host compared without case, a trailing
// '/' ignored, the rest exactly.
bool same_url(std::string_view a, std::string_view b);

// A public key as compared and shown: ASCII whitespace removed.
std::string compact_key(std::string_view key);

}  // namespace sgs::setup

namespace sgs::setup {

// The permissions `webhook configure` needs, named in its 403 message.
inline constexpr std::string_view webhook_read_permission = "user.webhooks.event.settings.read";
inline constexpr std::string_view webhook_update_permission = "user.webhooks.event.settings.update";
inline constexpr std::string_view webhook_test_permission = "user.webhooks.event.test.create";

// The sentence for a failed webhook API call (`action`: "list the Event Webhooks", "create an
// Event Webhook", ...): a 401 or 403 names the key and the permissions to add; a plan at its
// webhook limit is said plainly, with `max_allowed` when known (0 = unknown); anything else
// is SendGrid's own words with the status.
std::string webhook_failure_message(std::string_view source, std::string_view action, int status,
                                    std::string_view body, std::string_view on_behalf_of,
                                    std::int64_t max_allowed, bool wants_test);

// The message when the account already has `max_allowed` webhooks and none posts to `url`.
std::string webhook_limit_message(std::string_view url, std::int64_t max_allowed,
                                  const std::vector<event_webhook>& existing);

}  // namespace sgs::setup
