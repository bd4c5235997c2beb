// The SIGHUP reload: read, validate, compare (config/reload.hpp), apply.
#include "reload.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/reload.hpp"
#include "events/signature.hpp"
#include "logging/log.hpp"

namespace sgs::daemon {

namespace {

// A source_auth and the verifier it points at, kept alive together.
struct owned_auth {
  webhook::source_auth auth;
  std::unique_ptr<events::signature_verifier> verifier;
};

}  // namespace

std::variant<std::shared_ptr<const webhook::source_auth>, std::string> make_source_auth(
    const config::source_config& src, webhook::stored_keys* stored) {
  auto owned = std::make_shared<owned_auth>();
  if (!src.webhook_verification_keys.empty()) {
    auto v = events::signature_verifier::from_base64_keys(src.webhook_verification_keys);
    if (auto* err = std::get_if<std::string>(&v)) return "source '" + src.name + "': " + *err;
    owned->verifier = std::make_unique<events::signature_verifier>(
        std::get<events::signature_verifier>(std::move(v)));
    owned->auth.verifier = owned->verifier.get();
  }
  // Applies to stored keys too, so it is set even without configured ones.
  owned->auth.max_age_seconds = src.webhook_max_age_seconds;
  owned->auth.stored = stored;
  if (src.webhook_basic_auth)
    owned->auth.basic_auth_header = webhook::basic_auth_header(*src.webhook_basic_auth);
  return std::shared_ptr<const webhook::source_auth>(owned, &owned->auth);
}

bool reload(reload_context& ctx) {
  if (ctx.config_path.empty()) {
    logging::warn("reload: running on the built-in defaults, there is no config file to re-read",
                  {});
    return false;
  }
  std::ifstream in(ctx.config_path, std::ios::binary);
  if (!in) {
    logging::error("reload refused: cannot read the config file; the running configuration stays",
                   {{"config", ctx.config_path}, {"error", std::strerror(errno)}});
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = config::parse_config(text.str(), ctx.config_path);
  if (auto* errors = std::get_if<std::vector<config::config_error>>(&parsed)) {
    std::string text = config::format_errors(*errors, ctx.config_path);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    // The problems stay one field (one line each), so the journal keeps them with the message.
    logging::error("reload refused: the config file is invalid; the running configuration stays",
                   {{"config", ctx.config_path}, {"problems", text}});
    return false;
  }
  const config::config& fresh = std::get<config::config>(parsed);
  const auto plan = config::plan_reload(ctx.running, fresh);

  // Build every new authentication first: a bad key refuses the whole reload.
  std::vector<std::pair<std::string, std::shared_ptr<const webhook::source_auth>>> auths;
  for (const auto& name : plan.auth_changed) {
    for (const auto& src : fresh.sources) {
      if (src.name != name) continue;
      const auto stored = ctx.stored_keys.find(name);
      auto a = make_source_auth(src, stored == ctx.stored_keys.end() ? nullptr : stored->second);
      if (auto* err = std::get_if<std::string>(&a)) {
        logging::error("reload refused: a webhook key is unusable; the running configuration stays",
                       {{"source", name}, {"error", *err}});
        return false;
      }
      auths.emplace_back(name, std::get<std::shared_ptr<const webhook::source_auth>>(a));
    }
  }

  if (plan.level_changed) {
    logging::set_level(fresh.log.level);
    logging::info("reload: log level changed", {{"level", fresh.log.level}});
  }
  for (auto& [name, auth] : auths) {
    if (ctx.server != nullptr) ctx.server->set_auth(name, std::move(auth));
    const auto* src = &fresh.sources.front();
    for (const auto& s : fresh.sources) {
      if (s.name == name) src = &s;
    }
    logging::info("reload: webhook authentication replaced",
                  {{"source", name},
                   {"verification_keys", src->webhook_verification_keys.size()},
                   {"basic_auth", src->webhook_basic_auth ? "on" : "off"}});
  }
  for (const auto& key : plan.needs_restart) {
    logging::warn("reload: this change needs a restart; the running value stays", {{"key", key}});
  }
  ctx.running = config::apply_reload(ctx.running, fresh);
  logging::info("reloaded " + ctx.config_path,
                {{"applied", plan.auth_changed.size() + (plan.level_changed ? 1u : 0u)},
                 {"needs_restart", plan.needs_restart.size()}});
  return true;
}

}  // namespace sgs::daemon
