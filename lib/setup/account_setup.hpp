// The I/O of the set-up commands: asks the SendGrid API through an api_session (its retry and
// rate-limit handling), stores the signing key, waits for test events in the local database.
// The decisions are in checklist.hpp and account_api.hpp.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sendgrid/session.hpp"
#include "setup/account_api.hpp"
#include "setup/checklist.hpp"
#include "store/backend.hpp"

namespace sgs::setup {

// Asks everything the checklist needs (nothing more after a rejected key). Blocking; API
// failures are in the answers, never thrown.
account_answers fetch_account_answers(sendgrid::api_session& session, std::string_view api_base,
                                      const check_context& ctx);

// The local side of the checklist, read-only; never throws.
local_state read_local_state(store::backend& storage, std::string_view source);

struct configure_request {
  std::string source;
  std::string api_base;
  std::string on_behalf_of;  // named in 401/403 messages (the session sends the header)
  std::string url;           // the Post URL
  // The event types to enable (webhook_event_types); others are left as they are.
  std::vector<std::string> event_types = config::default_webhook_event_types();
  store::backend* storage = nullptr;         // where the key is stored (for `source`)
  bool send_test = false;                    // ask SendGrid to post its test events afterwards
  std::function<std::string()> now_iso8601;  // for added_at
};

struct configure_result {
  bool ok = false;
  std::string error;  // one sentence when !ok
  std::string webhook_id;
  bool created = false;    // a new webhook (else an existing one was updated)
  bool key_added = false;  // the key was not in the database before
  std::string public_key;
  bool test_requested = false;
  std::vector<std::string> steps;  // what was done, in order, for the terminal
};

// `webhook configure`: finds the webhook posting to request.url (or creates one), enables it
// and request.event_types, turns signing on, stores the public key in the source's
// database, and optionally asks for SendGrid's test events. Never creates a second webhook
// for a URL: a create that SendGrid answers with "already exists" updates that one instead.
configure_result configure_webhook(sendgrid::api_session& session,
                                   const configure_request& request);

// The newest arrival time of anything the source's store holds (events, rejected elements,
// acknowledged bodies not yet merged); nullopt when none or no store yet.
std::optional<std::string> last_arrival(store::backend& storage, std::string_view source);

// Waits until last_arrival() is newer than `baseline`, polling every `poll` up to `timeout`.
// `sleep` returns false to give up early (a signal); `progress` is told the seconds waited
// after each poll. True when something arrived.
bool wait_for_arrival(store::backend& storage, std::string_view source,
                      const std::optional<std::string>& baseline, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds poll,
                      const std::function<bool(std::chrono::milliseconds)>& sleep,
                      const std::function<void(std::chrono::milliseconds waited)>& progress);

}  // namespace sgs::setup
