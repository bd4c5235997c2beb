// The I/O of the set-up commands: asks the SendGrid API through an api_session (its retry and
// rate-limit handling), stores the signing key, waits for test events in the local database.
// The decisions are in checklist.hpp and account_api.hpp.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sendgrid/session.hpp"
#include "setup/account_api.hpp"
#include "setup/checklist.hpp"

namespace sgs::setup {

// Asks everything the checklist needs (nothing more after a rejected key). Blocking; API
// failures are in the answers, never thrown.
account_answers fetch_account_answers(sendgrid::api_session& session, std::string_view api_base,
                                      const check_context& ctx);

// The local side of the checklist, read-only; never throws.
local_state read_local_state(const std::filesystem::path& database);

struct configure_request {
  std::string source;
  std::string api_base;
  std::string on_behalf_of;  // named in 401/403 messages (the session sends the header)
  std::string url;           // the Post URL
  // The event types to enable (webhook_event_types); others are left as they are.
  std::vector<std::string> event_types = config::default_webhook_event_types();
  std::filesystem::path database;
  std::chrono::milliseconds busy_timeout{5000};
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

// The newest arrival time of anything the source's database holds (events, rejected
// elements, acknowledged bodies not yet merged); nullopt when none or no database.
std::optional<std::string> last_arrival(const std::filesystem::path& database);

// Waits until last_arrival() is newer than `baseline`, polling every `poll` up to `timeout`.
// `sleep` returns false to give up early (a signal); `progress` is told the seconds waited
// after each poll. True when something arrived.
bool wait_for_arrival(const std::filesystem::path& database,
                      const std::optional<std::string>& baseline, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds poll,
                      const std::function<bool(std::chrono::milliseconds)>& sleep,
                      const std::function<void(std::chrono::milliseconds waited)>& progress);

}  // namespace sgs::setup
