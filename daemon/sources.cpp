// Source lookup and API-key resolution, shared by every subcommand.
#include "sources.hpp"

#include "config/secrets.hpp"
#include "logging/log.hpp"

namespace sgs::daemon {

namespace {

std::string no_such_source(const config::config& cfg, const std::string& name) {
  std::string names;
  for (const auto& s : cfg.sources) names += (names.empty() ? "" : ", ") + s.name;
  return "no source named '" + name + "' in the configuration (configured: " + names + ")";
}

}  // namespace

std::vector<const config::source_config*> select_sources(const config::config& cfg,
                                                         const std::string& only) {
  std::vector<const config::source_config*> out;
  for (const auto& s : cfg.sources) {
    if (only.empty() || s.name == only) out.push_back(&s);
  }
  if (!only.empty() && out.empty()) throw usage_error(no_such_source(cfg, only));
  return out;
}

const config::source_config& find_source(const config::config& cfg, const std::string& name) {
  for (const auto& s : cfg.sources) {
    if (s.name == name) return s;
  }
  throw usage_error(no_such_source(cfg, name));
}

std::optional<std::string> api_key_of(const config::source_config& src) {
  auto key = config::resolve_api_key(src.api_key, src.name);
  if (auto* err = std::get_if<std::string>(&key)) throw usage_error(*err);
  return std::get<std::optional<std::string>>(std::move(key));
}

void warn_if_readable_by_others(const config::source_config& src) {
  if (src.api_key.file &&
      config::file_readable_by_others(config::resolve_api_key_path(*src.api_key.file))) {
    logging::warn(
        "the API key file is readable by other users: chmod 600 it",
        {{"source", src.name}, {"file", config::resolve_api_key_path(*src.api_key.file).string()}});
  }
}

}  // namespace sgs::daemon
