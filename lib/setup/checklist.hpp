// The account set-up checklist of `sendgrid-source check` (SPEC §3): pure decisions from the
// API's answers (and the local database) to ✓ / ✗ / – lines, each ✗ with its fix.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
  api_answer scopes;                   // GET /v3/scopes
  std::optional<api_answer> domains;   // GET /v3/whitelabel/domains
  std::optional<api_answer> senders;   // GET /v3/verified_senders
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
  std::vector<std::string> held_keys;  // webhook_verification_key(s) and stored keys
};

// The local database's side (the last item: information, never a failure).
struct local_state {
  std::string source;  // named in the fix
  bool database_exists = false;
  std::optional<std::string> last_event_at;  // ISO-8601 UTC
  std::string error;                         // could not read it
};

// The request the checklist needs next, given the scopes answer: after a rejected key (401)
// nothing else is asked.
bool key_accepted(const api_answer& scopes);

// The whole checklist, in SPEC order: API key, authenticated domain, verified sender,
// unsubscribe group, Event Webhook (URL, enabled, event types, signing), last event.
std::vector<check_item> evaluate(const account_answers& answers, const check_context& ctx,
                                 const local_state& local);

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
