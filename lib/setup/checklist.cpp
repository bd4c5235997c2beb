// The checklist's decisions and wording. Every ✗ says what to do, in SendGrid's UI or here.
#include "setup/checklist.hpp"

#include <algorithm>
#include <cctype>
#include <variant>

#include "events/signature.hpp"
#include "sendgrid/errors.hpp"
#include "setup/account_api.hpp"
#include "setup/collection_scopes.hpp"

namespace sgs::setup {

namespace {

constexpr const char* api_keys_path = "Settings > API Keys > Edit API Key";

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string join(const std::vector<std::string>& items, std::size_t max_items = 5) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i == max_items) {
      out += ", ... (" + std::to_string(items.size()) + " in all)";
      break;
    }
    out += (i ? ", " : "") + items[i];
  }
  return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

check_item item(mark m, std::string title, std::string detail, std::string fix = {}) {
  return {m, std::move(title), std::move(detail), std::move(fix)};
}

// The item for an answer that is not a usable 2xx, or nullopt when it is one. A 403 means the
// key may not read it: "–" naming the permission (`permission` may say there is none to name).
std::optional<check_item> unusable(const api_answer& a, const std::string& title,
                                   const std::string& permission, const std::string& by_hand) {
  if (a.ok()) return std::nullopt;
  if (a.status == 403) {
    return item(mark::not_checkable, title,
                "not checkable: this API key may not read it (403: " +
                    sendgrid::describe_error_body(a.body) + ")",
                "give the key " + permission + " under " + api_keys_path + ", or check " + by_hand +
                    " by hand");
  }
  std::string what = a.error.empty() ? "HTTP " + std::to_string(a.status) : a.error;
  return item(mark::failed, title, "could not be read: " + what,
              "run check again; if it keeps failing, check the source's api_base and the "
              "network (proxy variables, firewall)");
}

check_item unparsable(const std::string& title, const std::string& what) {
  return item(mark::failed, title,
              "SendGrid's answer to " + what + " is not in the documented form",
              "run check again; if it persists, report it with the output of "
              "`curl -H 'Authorization: Bearer ...' " +
                  what + "`");
}

check_item key_item(const api_answer& a, const check_context& ctx) {
  const std::string title = "API key";
  if (a.status == 401 || a.status == 403) {
    return item(mark::failed, title,
                sendgrid::auth_failure_message(ctx.source, a.status, a.body, "its scopes",
                                               "'scopes' (any key has it)", ctx.on_behalf_of),
                "create a key under Settings > API Keys (Restricted Access: Marketing read, "
                "Sender Authentication read, Suppressions read, Mail Settings > Event Webhook "
                "full) and set api_key_file");
  }
  if (auto bad = unusable(a, title, "", "")) return *bad;
  auto scopes = parse_scopes(a.body);
  if (!scopes) return unparsable(title, "GET /v3/scopes");
  if (ctx.collections.empty()) {
    return item(
        mark::ok, title,
        "accepted (" + std::to_string(scopes->size()) + " scopes); no collections are synced");
  }
  const bool marketing = contains(*scopes, "marketing.read");
  const bool legacy = contains(*scopes, "marketing_campaigns.read");
  // Only a marketing collection named on its own needs the marketing scopes; "all" and the
  // account collections are covered (or skipped) line by line below the key.
  bool names_marketing = false;
  for (const auto& c : ctx.collections)
    names_marketing =
        names_marketing || c == "lists" || c == "segments" || c == "campaigns" || c == "recipients";
  if (!names_marketing && !marketing && !legacy) {
    return item(mark::ok, title,
                "accepted (" + std::to_string(scopes->size()) +
                    " scopes); which collections they cover is listed below");
  }
  if (marketing || legacy) {
    return item(mark::ok, title,
                "accepted; its scopes cover the sync of " + join(ctx.collections) + " (" +
                    (marketing ? "marketing.read"
                               : "marketing_campaigns.read: Legacy Marketing "
                                 "Campaigns") +
                    ")");
  }
  return item(mark::failed, title,
              "accepted, but it may not read Marketing Campaigns: the sync of " +
                  join(ctx.collections) +
                  " would fail with 403 (it has neither marketing.read nor "
                  "marketing_campaigns.read)",
              std::string(api_keys_path) +
                  ": give it Marketing > Read Access (marketing.read; on Legacy Marketing "
                  "Campaigns accounts: marketing_campaigns.read)");
}

std::vector<std::string> valid_domains(const account_answers& answers) {
  std::vector<std::string> out;
  if (!answers.domains || !answers.domains->ok()) return out;
  if (auto domains = parse_domains(answers.domains->body)) {
    for (const auto& d : *domains)
      if (d.valid) out.push_back(lower(d.domain));
  }
  return out;
}

check_item domain_item(const account_answers& answers) {
  const std::string title = "authenticated domain";
  if (auto bad =
          unusable(*answers.domains, title, "Sender Authentication read access (whitelabel.read)",
                   "Settings > Sender Authentication"))
    return *bad;
  auto domains = parse_domains(answers.domains->body);
  if (!domains) return unparsable(title, "GET /v3/whitelabel/domains");
  std::vector<std::string> valid, pending;
  for (const auto& d : *domains) (d.valid ? valid : pending).push_back(d.domain);
  if (!valid.empty()) return item(mark::ok, title, join(valid));
  if (!pending.empty()) {
    return item(mark::failed, title,
                join(pending) + ": not verified yet (SendGrid has not found its DNS records)",
                "Settings > Sender Authentication > " + pending.front() +
                    ": add the CNAME records shown at your DNS provider, then press Verify");
  }
  return item(mark::failed, title, "none: mail is sent from SendGrid's shared domain",
              "Settings > Sender Authentication > Authenticate Your Domain");
}

std::string domain_of(std::string_view email) {
  const auto at = email.rfind('@');
  return at == std::string_view::npos ? std::string() : lower(email.substr(at + 1));
}

check_item sender_item(const account_answers& answers, const check_context& ctx) {
  const std::string title = "verified sender";
  if (auto bad = unusable(*answers.senders, title,
                          "Full Access (SendGrid publishes no read-only permission for Sender "
                          "Verification)",
                          "Settings > Sender Authentication > Single Sender Verification"))
    return *bad;
  auto senders = parse_senders(answers.senders->body);
  if (!senders) return unparsable(title, "GET /v3/verified_senders");
  std::vector<std::string> verified;
  for (const auto& s : *senders)
    if (s.verified) verified.push_back(s.from_email);
  const auto domains = valid_domains(answers);
  if (!ctx.from_email.empty()) {
    const std::string from = lower(ctx.from_email);
    for (const auto& v : verified) {
      if (lower(v) == from)
        return item(mark::ok, title, ctx.from_email + " (from_email) is verified");
    }
    // Mail from any address of an authenticated domain is accepted as well.
    if (contains(domains, domain_of(from))) {
      return item(
          mark::ok, title,
          ctx.from_email + " (from_email): its domain " + domain_of(from) + " is authenticated");
    }
    return item(mark::failed, title,
                "from_email " + ctx.from_email + " is not a verified sender (verified: " +
                    (verified.empty() ? std::string("none") : join(verified)) +
                    ") and its domain is not authenticated",
                "Settings > Sender Authentication > Verify a Single Sender: add " + ctx.from_email +
                    " and confirm the e-mail SendGrid sends, or set from_email "
                    "to a verified sender");
  }
  if (!verified.empty()) return item(mark::ok, title, join(verified));
  if (!domains.empty()) {
    return item(mark::ok, title,
                "no single sender, but any address at " + join(domains) + " may send");
  }
  return item(mark::failed, title, "none: SendGrid refuses mail from unverified senders",
              "Settings > Sender Authentication > Verify a Single Sender (or authenticate "
              "your domain)");
}

check_item group_item(const account_answers& answers, const check_context& ctx) {
  const std::string title = "unsubscribe group";
  if (!ctx.unsubscribe_group_id) {
    return item(mark::not_checkable, title, "unsubscribe_group_id is not set",
                "set unsubscribe_group_id in the source's config to the group your mail uses "
                "(Marketing > Unsubscribe Groups), if it uses one");
  }
  const std::string id = std::to_string(*ctx.unsubscribe_group_id);
  if (auto bad = unusable(*answers.groups, title, "Suppressions read access (asm.groups.read)",
                          "Marketing > Unsubscribe Groups"))
    return *bad;
  auto groups = parse_groups(answers.groups->body);
  if (!groups) return unparsable(title, "GET /v3/asm/groups");
  std::vector<std::string> existing;
  for (const auto& g : *groups) {
    if (g.id == *ctx.unsubscribe_group_id)
      return item(mark::ok, title, id + " '" + g.name + "' exists");
    existing.push_back(std::to_string(g.id) + " '" + g.name + "'");
  }
  return item(mark::failed, title,
              "unsubscribe_group_id " + id + " does not exist (groups: " +
                  (existing.empty() ? std::string("none") : join(existing)) + ")",
              "Marketing > Unsubscribe Groups > Create New Group, then set unsubscribe_group_id "
              "to its id");
}

// The webhook items: where it posts, enabled, event types, signing.
void webhook_items(const account_answers& answers, const check_context& ctx,
                   std::vector<check_item>& out) {
  const std::string title = "Event Webhook";
  const std::string configure = "sendgrid-source webhook configure --source " + ctx.source;
  const std::string ui = "Settings > Mail Settings > Event Webhook";
  const std::string permission =
      "Mail Settings > Event Webhook read access (user.webhooks.event.settings.read)";

  std::vector<event_webhook> hooks;
  bool legacy = false;
  if (answers.webhooks && answers.webhooks->status == 404 && answers.legacy_webhook) {
    // No multiple-webhook endpoints: the account has the one legacy webhook.
    legacy = true;
    if (auto bad = unusable(*answers.legacy_webhook, title, permission, ui)) {
      out.push_back(*bad);
      return;
    }
    auto hook = parse_webhook(answers.legacy_webhook->body);
    if (!hook) {
      out.push_back(unparsable(title, "GET /v3/user/webhooks/event/settings"));
      return;
    }
    if (answers.legacy_signed && answers.legacy_signed->ok()) {
      if (auto key = parse_public_key(answers.legacy_signed->body)) hook->public_key = *key;
    }
    if (!hook->url.empty()) hooks.push_back(*hook);
  } else {
    if (auto bad = unusable(*answers.webhooks, title, permission, ui)) {
      out.push_back(*bad);
      return;
    }
    auto list = parse_webhook_list(answers.webhooks->body);
    if (!list) {
      out.push_back(unparsable(title, "GET /v3/user/webhooks/event/settings/all"));
      return;
    }
    hooks = std::move(list->webhooks);
  }

  const std::string path = "/webhooks/sendgrid/" + ctx.source;
  const event_webhook* ours = nullptr;
  for (const auto& h : hooks) {
    std::string_view url = h.url;
    while (!url.empty() && url.back() == '/') url.remove_suffix(1);
    const bool match =
        ctx.expected_url.empty() ? url.ends_with(path) : same_url(h.url, ctx.expected_url);
    if (match) {
      ours = &h;
      break;
    }
  }
  if (!ours) {
    std::vector<std::string> urls;
    for (const auto& h : hooks) urls.push_back(h.url);
    const std::string wanted =
        ctx.expected_url.empty() ? "a URL ending in " + path : ctx.expected_url;
    out.push_back(
        item(mark::failed, title + " URL",
             "no Event Webhook posts to " + wanted +
                 " (the account's: " + (urls.empty() ? std::string("none") : join(urls)) + ")",
             ctx.expected_url.empty()
                 ? "set server.public_url, then run `" + configure + "` (or " + ui +
                       ": HTTP Post URL <public_url>" + path + ")"
                 : "run `" + configure + "`, or " + ui + ": HTTP Post URL " + ctx.expected_url));
    return;
  }
  out.push_back(
      item(mark::ok, title + " URL",
           ours->url + (legacy ? " (the account's single legacy webhook)" : "") +
               (ctx.expected_url.empty() ? " (matched by its path: server.public_url is not set)"
                                         : "")));

  const std::string where = ui + (ours->id.empty() ? "" : " > the webhook for " + ours->url);
  if (ours->enabled) {
    out.push_back(item(mark::ok, title + " enabled", "yes"));
  } else {
    out.push_back(item(mark::failed, title + " enabled", "no: SendGrid posts nothing",
                       "run `" + configure + "`, or " + where + ": turn Enabled on"));
  }

  // Required: the source's webhook_event_types. The other types we store are recommended:
  // SendGrid leaves some off by default (account_status_change), and a source may not want
  // every type.
  std::vector<std::string> missing, optional_off;
  for (auto name : stored_event_switches()) {
    if (contains(ours->events_on, name)) continue;
    (contains(ctx.required_event_types, name) ? missing : optional_off).emplace_back(name);
  }
  if (missing.empty()) {
    out.push_back(item(mark::ok, title + " event types",
                       "all " + std::to_string(ctx.required_event_types.size()) +
                           " required types (webhook_event_types)"));
  } else {
    out.push_back(item(mark::failed, title + " event types", "not posted: " + join(missing, 12),
                       "run `" + configure + "`, or " + where +
                           ": tick them under Actions to be "
                           "posted"));
  }
  if (!optional_off.empty()) {
    out.push_back(item(
        mark::not_checkable, title + " optional event types",
        "not posted: " + join(optional_off, 12) + " (recommended, not required: SendGrid leaves " +
            (contains(optional_off, "account_status_change") ? "account_status_change"
                                                             : std::string("some types")) +
            " off by default)",
        "to store them too, add them to webhook_event_types in the [[source]] section of '" +
            ctx.source + "' and run `" + configure + "`, or " + where +
            ": tick them under Actions to be posted"));
  }

  if (ours->public_key.empty()) {
    out.push_back(item(mark::failed, title + " signing",
                       "off: anyone who knows the URL can post events",
                       "run `" + configure + "` (turns it on and stores the key), or " + where +
                           ": turn Signature Verification on and set webhook_verification_key "
                           "to the key it shows"));
    return;
  }
  // A stored key the daemon cannot parse is not held: it verifies nothing.
  std::vector<std::string> usable = ctx.held_keys;
  for (const auto& k : ctx.stored_keys)
    if (!unusable_key_reason(k)) usable.push_back(k);
  for (const auto& k : usable) {
    if (compact_key(k) == ours->public_key) {
      out.push_back(item(mark::ok, title + " signing", "on, with a key this source holds"));
      return;
    }
  }
  const std::string shown = shown_key(ours->public_key);
  out.push_back(item(mark::failed, title + " signing",
                     "on, but with a key this source does not hold (" + shown +
                         "): its posts are refused with 403",
                     "run `" + configure +
                         "` (stores the key), or set webhook_verification_key = \"" +
                         ours->public_key + "\""));
}

}  // namespace

std::optional<std::string> unusable_key_reason(std::string_view key) {
  auto parsed = events::signature_verifier::from_base64_keys({std::string(key)});
  auto* err = std::get_if<std::string>(&parsed);
  if (!err) return std::nullopt;
  // The verifier names the config key's position ("webhook_verification_key[0] is not ..."):
  // here it is the key in question.
  constexpr std::string_view position = "webhook_verification_key[0] ";
  return err->starts_with(position) ? "it " + err->substr(position.size()) : *err;
}

std::string shown_key(std::string_view key) {
  const std::string k = compact_key(key);
  return k.size() > 16 ? k.substr(0, 8) + "..." + k.substr(k.size() - 8) : k;
}

std::vector<check_item> stored_key_items(const check_context& ctx) {
  std::vector<check_item> out;
  for (const auto& k : ctx.stored_keys) {
    if (auto why = unusable_key_reason(k)) {
      out.push_back(item(mark::failed, "stored webhook key",
                         shown_key(k) + " cannot be used to verify signatures (" + *why +
                             "): the daemon ignores it",
                         "run `sendgrid-source webhook configure --source " + ctx.source +
                             "` (it replaces it with the webhook's current key)"));
    }
  }
  return out;
}

check_item last_event_item(const local_state& local) {
  const std::string title = "last event";
  if (!local.error.empty()) return item(mark::not_checkable, title, local.error);
  if (!local.database_exists)
    return item(mark::not_checkable, title, "no database yet: nothing received",
                "start the daemon (`sendgrid-source run`)");
  if (!local.last_event_at)
    return item(mark::not_checkable, title, "none received yet (normal for a new set-up)",
                "send SendGrid's test events with `sendgrid-source webhook configure --source " +
                    (local.source.empty() ? std::string("<name>") : local.source) + " --test`");
  return item(mark::ok, title, "received at " + *local.last_event_at);
}

bool key_accepted(const api_answer& scopes) { return scopes.status != 401; }

std::vector<check_item> evaluate(const account_answers& answers, const check_context& ctx,
                                 const local_state& local) {
  std::vector<check_item> out;
  out.push_back(key_item(answers.scopes, ctx));
  if (answers.scopes.ok()) {
    if (auto scopes = parse_scopes(answers.scopes.body)) {
      for (auto& i : collection_scope_items(ctx.collections, *scopes)) out.push_back(std::move(i));
    }
  }
  if (!key_accepted(answers.scopes)) {
    out.push_back(
        item(mark::not_checkable, "account", "not checkable without an accepted API key"));
  } else {
    if (answers.domains) out.push_back(domain_item(answers));
    if (answers.senders) out.push_back(sender_item(answers, ctx));
    out.push_back(group_item(answers, ctx));
    if (answers.webhooks) webhook_items(answers, ctx, out);
  }
  // Local, so checked even when the account could not be.
  for (auto& i : stored_key_items(ctx)) out.push_back(std::move(i));
  out.push_back(last_event_item(local));
  return out;
}

bool any_failed(const std::vector<check_item>& items) {
  return std::any_of(items.begin(), items.end(),
                     [](const check_item& i) { return i.status == mark::failed; });
}

const char* mark_symbol(mark m) {
  switch (m) {
    case mark::ok:
      return "\u2713";
    case mark::failed:
      return "\u2717";
    case mark::not_checkable:
      return "\u2013";
  }
  return "?";
}

std::string render(const std::vector<check_item>& items) {
  std::string out;
  for (const auto& i : items) {
    out += "  ";
    out += mark_symbol(i.status);
    out += " " + i.title + ": " + i.detail + "\n";
    if (i.status != mark::ok && !i.fix.empty()) out += "      fix: " + i.fix + "\n";
  }
  return out;
}

}  // namespace sgs::setup
