// simdjson parsing of the account answers; the only translation unit of lib/setup that
// includes simdjson.
#include "setup/account_api.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>

#include "config/config.hpp"
#include "text/json.hpp"

namespace sgs::setup {

namespace {

using simdjson::dom::element;

std::optional<element> parse(simdjson::dom::parser& parser, simdjson::padded_string& text) {
  element doc;
  if (parser.parse(text).get(doc) != simdjson::SUCCESS) return std::nullopt;
  return doc;
}

std::string string_or(element e, const char* key) {
  std::string_view v;
  if (e.is_object() && e[key].get_string().get(v) == simdjson::SUCCESS) return std::string(v);
  return {};
}

bool bool_or(element e, const char* key) {
  bool v = false;
  if (e.is_object() && e[key].get_bool().get(v) == simdjson::SUCCESS) return v;
  return false;
}

std::int64_t int_or(element e, const char* key) {
  std::int64_t i = 0;
  if (e[key].get_int64().get(i) == simdjson::SUCCESS) return i;
  double d = 0;
  if (e[key].get_double().get(d) == simdjson::SUCCESS) return static_cast<std::int64_t>(d);
  std::string_view s;
  if (e[key].get_string().get(s) == simdjson::SUCCESS) {
    try {
      return std::stoll(std::string(s));
    } catch (...) {
    }
  }
  return 0;
}

// The switches in SendGrid's webhook object, in the order of our event tables.
constexpr const auto& switches = config::webhook_event_type_names;

event_webhook webhook_from(element e) {
  event_webhook w;
  w.id = string_or(e, "id");
  w.url = string_or(e, "url");
  w.enabled = bool_or(e, "enabled");
  for (auto name : switches) {
    if (bool_or(e, std::string(name).c_str())) w.events_on.emplace_back(name);
  }
  w.public_key = compact_key(string_or(e, "public_key"));
  return w;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<std::vector<std::string>> parse_scopes(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  auto doc = parse(parser, text);
  simdjson::dom::array scopes;
  if (!doc || (*doc)["scopes"].get_array().get(scopes) != simdjson::SUCCESS) return std::nullopt;
  std::vector<std::string> out;
  for (element s : scopes) {
    std::string_view v;
    if (s.get_string().get(v) == simdjson::SUCCESS) out.emplace_back(v);
  }
  return out;
}

std::optional<std::vector<authenticated_domain>> parse_domains(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  auto doc = parse(parser, text);
  simdjson::dom::array items;
  if (!doc || doc->get_array().get(items) != simdjson::SUCCESS) return std::nullopt;
  std::vector<authenticated_domain> out;
  for (element d : items) {
    if (!d.is_object()) continue;
    out.push_back({string_or(d, "domain"), bool_or(d, "valid")});
  }
  return out;
}

std::optional<std::vector<sender_identity>> parse_senders(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  auto doc = parse(parser, text);
  simdjson::dom::array items;
  if (!doc || (*doc)["results"].get_array().get(items) != simdjson::SUCCESS) return std::nullopt;
  std::vector<sender_identity> out;
  for (element s : items) {
    if (!s.is_object()) continue;
    out.push_back({int_or(s, "id"), string_or(s, "from_email"), bool_or(s, "verified")});
  }
  return out;
}

namespace {

list_page page_of(simdjson::dom::array items) {
  list_page out;
  for (element e : items) {
    out.items.push_back(simdjson::minify(e));
    out.last_id = e.is_object() ? int_or(e, "id") : 0;
  }
  return out;
}

}  // namespace

std::optional<list_page> parse_domain_page(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  auto doc = parse(parser, text);
  simdjson::dom::array items;
  if (!doc || doc->get_array().get(items) != simdjson::SUCCESS) return std::nullopt;
  return page_of(items);
}

std::optional<list_page> parse_sender_page(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  auto doc = parse(parser, text);
  simdjson::dom::array items;
  if (!doc || (*doc)["results"].get_array().get(items) != simdjson::SUCCESS) return std::nullopt;
  return page_of(items);
}

std::optional<std::vector<unsubscribe_group>> parse_groups(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  auto doc = parse(parser, text);
  simdjson::dom::array items;
  if (!doc || doc->get_array().get(items) != simdjson::SUCCESS) return std::nullopt;
  std::vector<unsubscribe_group> out;
  for (element g : items) {
    if (!g.is_object()) continue;
    out.push_back({int_or(g, "id"), string_or(g, "name")});
  }
  return out;
}

std::vector<std::string_view> stored_event_switches() {
  return {std::begin(switches), std::end(switches)};
}

std::optional<webhook_list> parse_webhook_list(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  auto doc = parse(parser, text);
  simdjson::dom::array items;
  if (!doc || (*doc)["webhooks"].get_array().get(items) != simdjson::SUCCESS) return std::nullopt;
  webhook_list out;
  out.max_allowed = int_or(*doc, "max_allowed");
  for (element w : items) {
    if (!w.is_object()) continue;
    auto hook = webhook_from(w);
    if (hook.url.empty()) continue;
    out.webhooks.push_back(std::move(hook));
  }
  return out;
}

std::optional<event_webhook> parse_webhook(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  auto doc = parse(parser, text);
  if (!doc || !doc->is_object()) return std::nullopt;
  return webhook_from(*doc);
}

std::optional<std::string> parse_public_key(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  auto doc = parse(parser, text);
  if (!doc || !doc->is_object()) return std::nullopt;
  std::string_view key;
  if ((*doc)["public_key"].get_string().get(key) != simdjson::SUCCESS) return std::string();
  return compact_key(key);
}

std::string duplicate_webhook_id(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  auto doc = parse(parser, text);
  simdjson::dom::array errors;
  if (!doc || (*doc)["errors"].get_array().get(errors) != simdjson::SUCCESS) return {};
  for (element e : errors) {
    const std::string message = string_or(e, "message");
    const std::string id = string_or(e, "id");
    if (!id.empty() && message.find("already exists") != std::string::npos) return id;
  }
  return {};
}

std::string webhook_settings_body(std::string_view url,
                                  const std::vector<std::string>& event_types) {
  std::string out = "{\"enabled\":true,\"url\":";
  text::append_json_string(out, url);
  for (auto name : switches) {
    if (std::find(event_types.begin(), event_types.end(), name) == event_types.end()) continue;
    out += ",\"";
    out += name;
    out += "\":true";
  }
  return out + "}";
}

bool same_url(std::string_view a, std::string_view b) {
  auto normal = [](std::string_view u) {
    while (!u.empty() && u.back() == '/') u.remove_suffix(1);
    const auto scheme = u.find("://");
    if (scheme == std::string_view::npos) return std::string(u);
    const auto path = u.find('/', scheme + 3);
    const std::string_view origin = u.substr(0, path);
    return lower(origin) +
           std::string(path == std::string_view::npos ? std::string_view() : u.substr(path));
  };
  return normal(a) == normal(b);
}

std::string compact_key(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  }
  return out;
}

}  // namespace sgs::setup

#include "sendgrid/errors.hpp"

namespace sgs::setup {

std::string webhook_limit_message(std::string_view url, std::int64_t max_allowed,
                                  const std::vector<event_webhook>& existing) {
  std::string urls;
  for (const auto& w : existing) urls += (urls.empty() ? "" : ", ") + w.url;
  return "the account's plan allows " + std::to_string(max_allowed) +
         " Event Webhook(s) and all are in use (" + (urls.empty() ? "none listed" : urls) +
         "), so none can be created for " + std::string(url) +
         ": delete one you no longer use under Settings > Mail Settings > Event Webhook, or "
         "upgrade the plan, or pass --url with the URL of an existing one to take it over";
}

std::string webhook_failure_message(std::string_view source, std::string_view action, int status,
                                    std::string_view body, std::string_view on_behalf_of,
                                    std::int64_t max_allowed, bool wants_test) {
  const std::string said = sendgrid::describe_error_body(body);
  const std::string src = "'" + std::string(source) + "'";
  if (status == 401) {
    return sendgrid::auth_failure_message(source, status, body, "", "", on_behalf_of);
  }
  if (status == 403) {
    std::string out = "the API key for source " + src + " may not " + std::string(action) +
                      " (403): add the permissions " + std::string(webhook_read_permission) +
                      " and " + std::string(webhook_update_permission);
    if (wants_test) out += " (and " + std::string(webhook_test_permission) + " for --test)";
    out +=
        " under Settings > API Keys > Edit API Key (Mail Settings > Event Webhook: Full "
        "Access), or use a Full Access key";
    if (!on_behalf_of.empty()) {
      out += "; requests are made on behalf of subuser '" + std::string(on_behalf_of) +
             "': check that it exists and belongs to this key's account";
    }
    if (!said.empty()) out += " (SendGrid said: " + said + ")";
    return out;
  }
  if (said.find("maximum number of webhooks") != std::string::npos) {
    return "the account's plan allows no more Event Webhooks" +
           (max_allowed > 0 ? " (at most " + std::to_string(max_allowed) + ")" : std::string()) +
           ": delete one you no longer use under Settings > Mail Settings > Event Webhook, or "
           "upgrade the plan (SendGrid said: " +
           said + ")";
  }
  if (said.find("current billing plan") != std::string::npos) {
    return "SendGrid will not " + std::string(action) +
           ": the plan disabled this webhook when it was downgraded (disabled webhooks still "
           "count toward the limit); upgrade the plan or delete a newer webhook (SendGrid said: " +
           said + ")";
  }
  return "could not " + std::string(action) + ": HTTP " + std::to_string(status) +
         (said.empty() ? std::string() : ": " + said);
}

}  // namespace sgs::setup
