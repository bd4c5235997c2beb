// API calls for `check` and `webhook configure`, the key's storage, and the test-event wait.
#include "setup/account_setup.hpp"

#include "sendgrid/paging.hpp"
#include "text/json.hpp"

namespace sgs::setup {

namespace {

constexpr std::string_view webhooks_all =
    "/v3/user/webhooks/event/settings/all?include=account_status_change";

api_answer answer_of(const sendgrid::call_result& r) {
  api_answer a;
  a.status = r.res.transport == sendgrid::transport_status::ok ? r.res.status : 0;
  a.body = r.res.body;
  a.error = r.error;
  return a;
}

enum class paging {
  offset,        // ?limit=L&offset=O (whitelabel domains)
  last_seen_id,  // ?limit=L&lastSeenID=<id of the previous page's last item> (verified senders)
};

// Guards against a server that never sends a short page.
constexpr int max_list_pages = 1000;

// Every page of a paged list, until a page shorter than the limit; the items joined into one
// body shaped like a page (an array for offset paging, {"results": [...]} otherwise), so the
// checklist reads it as one answer. A failed or unparsable page is returned as it came.
api_answer get_all_pages(sendgrid::api_session& session, std::string_view api_base,
                         const std::string& path, int limit, paging style) {
  std::vector<std::string> items;
  std::int64_t offset = 0;
  std::optional<std::int64_t> last_seen;
  api_answer answer;
  for (int page = 1;; ++page) {
    std::string url = path + "?limit=" + std::to_string(limit);
    if (style == paging::offset) url += "&offset=" + std::to_string(offset);
    if (style == paging::last_seen_id && last_seen)
      url += "&lastSeenID=" + std::to_string(*last_seen);
    answer = answer_of(session.get(sendgrid::api_url(api_base, url)));
    if (!answer.ok()) return answer;
    auto p =
        style == paging::offset ? parse_domain_page(answer.body) : parse_sender_page(answer.body);
    if (!p) return answer;
    const auto got = static_cast<std::int64_t>(p->items.size());
    for (auto& i : p->items) items.push_back(std::move(i));
    if (got < limit || page >= max_list_pages) break;
    if (style == paging::offset) {
      offset += got;
    } else {
      // No usable cursor, or one that does not move forward: the list cannot be read further.
      if (p->last_id == 0 || (last_seen && p->last_id <= *last_seen)) break;
      last_seen = p->last_id;
    }
  }
  std::string joined;
  for (const auto& i : items) joined += (joined.empty() ? "" : ",") + i;
  answer.body = style == paging::offset ? "[" + joined + "]" : "{\"results\":[" + joined + "]}";
  return answer;
}

}  // namespace

account_answers fetch_account_answers(sendgrid::api_session& session, std::string_view api_base,
                                      const check_context& ctx) {
  auto get = [&](std::string_view path) {
    return answer_of(session.get(sendgrid::api_url(api_base, path)));
  };
  account_answers a;
  a.scopes = get("/v3/scopes");
  if (!key_accepted(a.scopes)) return a;
  a.domains = get_all_pages(session, api_base, "/v3/whitelabel/domains", ctx.list_page_size,
                            paging::offset);
  a.senders = get_all_pages(session, api_base, "/v3/verified_senders", ctx.list_page_size,
                            paging::last_seen_id);
  if (ctx.unsubscribe_group_id) a.groups = get("/v3/asm/groups");
  a.webhooks = get(webhooks_all);
  if (a.webhooks->status == 404) {
    // An API without the multiple-webhook endpoints: read the single legacy webhook (these
    // forms act on the account's oldest webhook).
    a.legacy_webhook = get("/v3/user/webhooks/event/settings");
    a.legacy_signed = get("/v3/user/webhooks/event/settings/signed");
  }
  return a;
}

local_state read_local_state(store::backend& storage, std::string_view source) {
  local_state s;
  try {
    s.database_exists = storage.exists(source);
    s.last_event_at = storage.read_last_arrival(source);
  } catch (const std::exception& e) {
    s.error = e.what();
  }
  return s;
}

std::optional<std::string> last_arrival(store::backend& storage, std::string_view source) {
  return storage.read_last_arrival(source);
}

configure_result configure_webhook(sendgrid::api_session& session,
                                   const configure_request& request) {
  configure_result out;
  auto url_for = [&](std::string_view path) { return sendgrid::api_url(request.api_base, path); };
  auto fail = [&](std::string_view action, const sendgrid::call_result& r,
                  std::int64_t max_allowed) {
    out.error = r.res.transport == sendgrid::transport_status::ok
                    ? webhook_failure_message(request.source, action, r.res.status, r.res.body,
                                              request.on_behalf_of, max_allowed, request.send_test)
                    : "could not " + std::string(action) + ": " + r.error;
    return out;
  };

  // 1. Find the webhook that already posts to this URL. Only the multiple-webhook endpoints
  // are used to write: the legacy PATCH /settings (no id) rewrites the account's oldest
  // webhook, which may belong to another integration.
  auto listed = session.get(url_for(webhooks_all));
  if (listed.res.transport == sendgrid::transport_status::ok && listed.res.status == 404) {
    out.error =
        "this account's API has no multiple-webhook endpoints (GET "
        "/v3/user/webhooks/event/settings/all answered 404), and the legacy single-webhook "
        "endpoint would overwrite whatever webhook the account has: set the Post URL " +
        request.url +
        " by hand under Settings > Mail Settings > Event Webhook, turn Signature Verification "
        "on and put its key into webhook_verification_key";
    return out;
  }
  if (!listed.ok()) return fail("list the Event Webhooks", listed, 0);
  auto list = parse_webhook_list(listed.res.body);
  if (!list) {
    out.error = "SendGrid's list of Event Webhooks is not in the documented form";
    return out;
  }
  const event_webhook* existing = nullptr;
  for (const auto& w : list->webhooks) {
    if (same_url(w.url, request.url)) {
      existing = &w;
      break;
    }
  }
  const std::string settings = webhook_settings_body(request.url, request.event_types);
  std::string current_key;
  if (existing) {
    out.webhook_id = existing->id;
    current_key = existing->public_key;
  } else {
    // 2. None: create one, unless the plan is visibly full (say so instead of a 400).
    if (list->max_allowed > 0 &&
        static_cast<std::int64_t>(list->webhooks.size()) >= list->max_allowed) {
      out.error = webhook_limit_message(request.url, list->max_allowed, list->webhooks);
      return out;
    }
    auto created = session.post_json(url_for("/v3/user/webhooks/event/settings"), settings);
    if (created.ok()) {
      auto hook = parse_webhook(created.res.body);
      if (!hook || hook->id.empty()) {
        out.error =
            "SendGrid created the Event Webhook but its answer names no id: run "
            "`webhook configure` again to find and finish it";
        return out;
      }
      out.webhook_id = hook->id;
      out.created = true;
      out.steps.push_back("created Event Webhook " + out.webhook_id + " posting to " + request.url);
    } else if (const std::string dup = duplicate_webhook_id(created.res.body);
               created.res.status == 400 && !dup.empty()) {
      // Created meanwhile (another run, or a retried POST that had gone through).
      out.webhook_id = dup;
    } else {
      return fail("create an Event Webhook", created, list->max_allowed);
    }
  }

  // 3. An existing webhook gets our settings: enabled, the configured event types (a created
  // one was created with them).
  if (!out.created) {
    auto patched = session.patch_json(
        url_for("/v3/user/webhooks/event/settings/" + sendgrid::path_segment(out.webhook_id)),
        settings);
    if (!patched.ok()) return fail("update the Event Webhook " + out.webhook_id, patched, 0);
    if (auto hook = parse_webhook(patched.res.body); hook && !hook->public_key.empty())
      current_key = hook->public_key;
    out.steps.push_back("updated Event Webhook " + out.webhook_id + " posting to " + request.url +
                        ": enabled, " + std::to_string(request.event_types.size()) +
                        " event types");
  } else {
    out.steps.push_back("enabled it with " + std::to_string(request.event_types.size()) +
                        " event types");
  }

  // 4. Signing. Turning it on when it is already on is avoided: SendGrid makes a new key
  // pair when signing is (re-)enabled, and a daemon holding the old key would refuse posts
  // until it picks the new one up.
  if (current_key.empty()) {
    auto signed_on = session.patch_json(url_for("/v3/user/webhooks/event/settings/signed/" +
                                                sendgrid::path_segment(out.webhook_id)),
                                        R"({"enabled":true})");
    if (!signed_on.ok()) return fail("turn on signing for webhook " + out.webhook_id, signed_on, 0);
    auto key = parse_public_key(signed_on.res.body);
    if (!key || key->empty()) {
      out.error = "SendGrid turned signing on for webhook " + out.webhook_id +
                  " but returned no public key: run `webhook configure` again";
      return out;
    }
    current_key = *key;
    out.steps.push_back("turned signature verification on");
  } else {
    out.steps.push_back("signature verification was already on");
  }
  // 4b. The key must be one the daemon can verify with (base64 DER P-256, as the signature
  // code parses it): storing anything else would print ✓ while the daemon ignores the key and
  // keeps accepting unsigned posts.
  if (auto why = unusable_key_reason(current_key)) {
    out.error = "SendGrid's verification key for webhook " + out.webhook_id + " (" +
                shown_key(current_key) +
                ") is not a base64 P-256 public key the daemon can verify with (" + *why +
                "): it was not stored. Turn Signature Verification off and on again under "
                "Settings > Mail Settings > Event Webhook (SendGrid then makes a new key) and "
                "run `webhook configure` again, or report the key SendGrid shows";
    return out;
  }
  out.public_key = current_key;

  // 5. Store the key where the running daemon looks for it, replacing stored keys the daemon
  // cannot use (from a version that did not check them).
  try {
    for (const auto& old : request.storage->read_webhook_keys(request.source)) {
      if (unusable_key_reason(old.public_key) &&
          request.storage->remove_webhook_key(request.source, old.public_key)) {
        out.steps.push_back("removed a stored key the daemon could not use (" +
                            shown_key(old.public_key) + ")");
      }
    }
    store::stored_webhook_key k;
    k.public_key = current_key;
    k.webhook_id = out.webhook_id;
    k.webhook_url = request.url;
    k.added_at = request.now_iso8601 ? request.now_iso8601() : std::string();
    out.key_added = request.storage->add_webhook_key(request.source, k);
  } catch (const std::exception& e) {
    out.error = e.what();
    return out;
  }
  out.steps.push_back(
      out.key_added
          ? "stored its public key in " + request.storage->location(request.source) +
                " (a running daemon uses it within a second)"
          : "its public key was already stored in " + request.storage->location(request.source));

  // 6. SendGrid's test events.
  if (request.send_test) {
    std::string body = "{\"id\":";
    text::append_json_string(body, out.webhook_id);
    body += ",\"url\":";
    text::append_json_string(body, request.url);
    body += "}";
    auto test = session.post_json(url_for("/v3/user/webhooks/event/test"), body);
    if (!test.ok()) return fail("send the test events", test, 0);
    out.test_requested = true;
    out.steps.push_back("asked SendGrid to post its test events to " + request.url);
  }
  out.ok = true;
  return out;
}

bool wait_for_arrival(store::backend& storage, std::string_view source,
                      const std::optional<std::string>& baseline, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds poll,
                      const std::function<bool(std::chrono::milliseconds)>& sleep,
                      const std::function<void(std::chrono::milliseconds waited)>& progress) {
  std::chrono::milliseconds waited{0};
  while (true) {
    std::optional<std::string> now;
    try {
      now = storage.read_last_arrival(source);
    } catch (const std::exception&) {
      // Busy or being created by the daemon: look again at the next poll.
    }
    if (now && (!baseline || *now > *baseline)) return true;
    if (waited >= timeout) return false;
    const auto step = std::min(poll, timeout - waited);
    if (!sleep(step)) return false;
    waited += step;
    if (progress) progress(waited);
  }
}

}  // namespace sgs::setup
