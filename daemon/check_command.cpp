// `sendgrid-source check`: per source, asks the account through lib/setup and prints the
// checklist; the exit code says whether a required item failed.
#include "check_command.hpp"

#include <cstdio>

#include "config/secrets.hpp"
#include "setup/account_setup.hpp"
#include "setup/checklist.hpp"
#include "setup_session.hpp"
#include "sources.hpp"

namespace sgs::daemon {

namespace {

using namespace setup_cli;

// The keys `webhook configure` stored for this source.
std::vector<std::string> stored_keys(store::backend& storage, const config::source_config& src,
                                     std::string& error) {
  std::vector<std::string> keys;
  try {
    for (auto& k : storage.read_webhook_keys(src.name)) keys.push_back(std::move(k.public_key));
  } catch (const std::exception& e) {
    error = e.what();
  }
  return keys;
}

// 0, 1 or 2 for one source.
int check_source(const config::config& cfg, store::backend& storage,
                 const config::source_config& src) {
  std::printf("source %s (%s)\n", src.name.c_str(), src.api_base.c_str());
  auto local = setup::read_local_state(storage, src.name);
  local.source = src.name;
  const auto value = api_key_of(src);
  std::string key_error;
  const auto stored = stored_keys(storage, src, key_error);
  if (!key_error.empty()) std::fprintf(stderr, "sendgrid-source: %s\n", key_error.c_str());
  if (!value) {
    // A webhook-only source is a valid set-up: nothing to check at SendGrid with no key.
    std::vector<setup::check_item> items{
        {setup::mark::not_checkable, "API key",
         "not configured: this source only receives webhooks; the account is not checked",
         "set api_key_file (or api_key_env) in its [[source]] section to check the account "
         "and sync it"}};
    setup::check_context ctx;
    ctx.source = src.name;
    ctx.stored_keys = stored;
    for (auto& i : setup::stored_key_items(ctx)) items.push_back(std::move(i));
    items.push_back(setup::last_event_item(local));
    std::fputs(setup::render(items).c_str(), stdout);
    return setup::any_failed(items) ? exit_runtime : exit_ok;
  }
  setup::check_context ctx;
  ctx.source = src.name;
  ctx.collections = src.collections;
  ctx.on_behalf_of = src.on_behalf_of;
  ctx.from_email = src.from_email;
  ctx.unsubscribe_group_id = src.unsubscribe_group_id;
  ctx.expected_url = expected_url(cfg, src.name);
  ctx.required_event_types = src.webhook_event_types;
  ctx.held_keys = src.webhook_verification_keys;
  ctx.stored_keys = stored;

  api a(client_options_for(src, *value));
  const auto answers = setup::fetch_account_answers(a.session, src.api_base, ctx);
  const auto items = setup::evaluate(answers, ctx, local);
  std::fputs(setup::render(items).c_str(), stdout);
  return setup::any_failed(items) ? exit_runtime : exit_ok;
}

}  // namespace

CLI::App* add_check_command(CLI::App& app, check_cli_options& out) {
  auto* cmd = app.add_subcommand(
      "check",
      "Check each source's SendGrid account set-up and print a checklist; exit 1 if a required "
      "item fails");
  cmd->footer(
      "Items: the API key is accepted and its scopes cover the configured collections; an "
      "authenticated domain; a verified sender (and from_email among them); the configured "
      "unsubscribe_group_id exists; the Event Webhook posting to server.public_url + "
      "/webhooks/sendgrid/<source> exists, is enabled, posts the event types in "
      "webhook_event_types (others are recommended: \u2013) and is signed with a key this source "
      "holds (webhook_verification_key, or stored by `webhook "
      "configure`); when the last event arrived (from the local database).\n"
      "Each line is \u2713 ok, \u2717 failed (the fix follows on the next line), or \u2013 not "
      "checkable with this key (the permission to add is named) or not configured.\n"
      "Exit 0 when nothing failed, 1 when a required item failed, 2 for usage or config "
      "errors.");
  cmd->add_option("--source", out.source, "Only this source (default: every source)");
  return cmd;
}

int run_check_command(const config::config& cfg, store::backend& storage,
                      const check_cli_options& options) {
  int rc = exit_ok;
  bool first = true;
  for (const auto* src : select_sources(cfg, options.source)) {
    if (!first) std::printf("\n");
    first = false;
    rc = std::max(rc, check_source(cfg, storage, *src));
    if (rc == exit_usage) return rc;
  }
  if (first) find_source(cfg, options.source);  // none configured: throws, naming none
  return rc;
}

}  // namespace sgs::daemon
