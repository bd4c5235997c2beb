// The account set-up checklist of `sendgrid-source check` (SPEC §3): pure decisions from the
// API's answers (and the local database) to ✓ / ✗ / – lines, each ✗ with its fix.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace sgs::setup {

enum class mark {
  ok,             // ✓
  failed,         // ✗ a required item: `check` exits 1
  not_checkable,  // – this key may not read it (the missing permission is named), or not
                  //   configured, or information only
};

struct check_item {
  mark status = mark::not_checkable;
  std::string title;   // "API key", "authenticated domain", ...
  std::string detail;  // what was found
  std::string fix;     // for ✗ and –: the exact thing to do ("" when nothing)
};

// One API answer as the checks see it: the HTTP status and body, or why there was none.
struct api_answer {
  int status = 0;  // 0 when no HTTP answer came (network, timeout, retries exhausted)
  std::string body;
  std::string error;  // the client's sentence for a failure (transport or HTTP)
  bool ok() const { return status >= 200 && status < 300; }
};

// What was asked of the account. An item is nullopt when it was not asked (after a rejected
// key, or when the config gives nothing to check).
struct account_answers {
  api_answer scopes;  // GET /v3/scopes
  // Paged lists: every page read, joined into one body of the first page's shape; a failed
  // page is the answer.
  std::optional<api_answer> domains;   // GET /v3/whitelabel/domains (limit/offset)
  std::optional<api_answer> senders;   // GET /v3/verified_senders (limit/lastSeenID)
  std::optional<api_answer> groups;    // GET /v3/asm/groups (when unsubscribe_group_id is set)
  std::optional<api_answer> webhooks;  // GET /v3/user/webhooks/event/settings/all
  // Accounts whose API has no multiple-webhook endpoints (settings/all answers 404): the
  // legacy single webhook and its signing key.
  std::optional<api_answer> legacy_webhook;  // GET /v3/user/webhooks/event/settings
  std::optional<api_answer> legacy_signed;   // GET /v3/user/webhooks/event/settings/signed
};

// What the checks compare the account with.
struct check_context {
  std::string source;                    // the source's name
  std::vector<std::string> collections;  // configured sync collections
  std::string on_behalf_of;
  std::string from_email;  // "" = not configured
  std::optional<std::int64_t> unsubscribe_group_id;
  std::string expected_url;  // public_url + /webhooks/sendgrid/<source>; "" when public_url
                             // is not set (then a webhook is matched by its path)
  std::vector<std::string> held_keys;    // webhook_verification_key(s)
  std::vector<std::string> stored_keys;  // stored by `webhook configure` (the daemon may
                                         // find one unusable: then it is a ✗ of its own)
  // The event types the webhook must post (webhook_event_types); the other stored types are
  // recommended only ("–").
  std::vector<std::string> required_event_types = config::default_webhook_event_types();
  // Items per request when paging through the domains and the verified senders.
  int list_page_size = 100;
};

// The local database's side (the last item: information, never a failure).
struct local_state {
  std::string source;  // named in the fix
  bool database_exists = false;
  std::optional<std::string> last_event_at;  // ISO-8601 UTC
  std::string error;                         // could not read it
};

// Why the daemon cannot verify signatures with `key` (not base64, or not a DER P-256 public
// key, as events::signature_verifier parses it); nullopt when it can.
std::optional<std::string> unusable_key_reason(std::string_view key);

// A key as shown in messages: its first and last 8 characters.
std::string shown_key(std::string_view key);

// The request the checklist needs next, given the scopes answer: after a rejected key (401)
// nothing else is asked.
bool key_accepted(const api_answer& scopes);

// The whole checklist, in SPEC order: API key, authenticated domain, verified sender,
// unsubscribe group, Event Webhook (URL, enabled, event types, signing), last event.
std::vector<check_item> evaluate(const account_answers& answers, const check_context& ctx,
                                 const local_state& local);

// A ✗ per stored key the daemon cannot use (it ignores it and, without another key, accepts
// unsigned posts); part of evaluate(), and alone for a source without an API key.
std::vector<check_item> stored_key_items(const check_context& ctx);

// The last item alone (for a source without an API key).
check_item last_event_item(const local_state& local);

// True when any item failed (the exit code is then 1).
bool any_failed(const std::vector<check_item>& items);

// "✓", "✗" or "–".
const char* mark_symbol(mark m);

// The printed lines of one source:
//   "  ✓ API key: accepted; ..."   and for ✗ / – with a fix: "      fix: ..."
std::string render(const std::vector<check_item>& items);

}  // namespace sgs::setup
