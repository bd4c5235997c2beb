// Per-collection scope lines of `check`, from the sync's own table of required scopes.
#include "setup/collection_scopes.hpp"

#include <algorithm>

#include "store/object_store.hpp"
#include "sync/collections/account_sync.hpp"

namespace sgs::setup {

std::vector<check_item> collection_scope_items(const std::vector<std::string>& configured,
                                               const std::vector<std::string>& scopes) {
  std::vector<store::collection> wanted;
  auto add = [&](store::collection c) {
    if (std::find(wanted.begin(), wanted.end(), c) == wanted.end()) wanted.push_back(c);
  };
  for (const auto& name : configured) {
    if (name == "all") {
      for (auto c : sync::all_collections_but_opt_in()) add(c);
    } else if (auto c = store::collection_from_name(name)) {
      add(*c);
    }
  }
  std::vector<store::collection> ordered;
  for (auto c : sync::sync_order())
    if (std::find(wanted.begin(), wanted.end(), c) != wanted.end()) ordered.push_back(c);

  std::vector<check_item> out;
  for (auto c : ordered) {
    const std::string title = "collection " + std::string(store::collection_name(c));
    const auto need = sync::required_scopes(c);
    std::string names;
    for (auto n : need) names += (names.empty() ? "'" : " or '") + std::string(n) + "'";
    if (need.empty()) {
      out.push_back({mark::ok, title, "no scope is documented for it: a 403 would skip it", ""});
      continue;
    }
    std::string have;
    for (auto n : need)
      if (have.empty() && std::find(scopes.begin(), scopes.end(), n) != scopes.end())
        have = std::string(n);
    if (!have.empty()) {
      std::string detail = "covered by '" + have + "'";
      if (c == store::collection::messages)
        detail += " (the account also needs the Email Activity add-on)";
      out.push_back({mark::ok, title, detail, ""});
    } else {
      out.push_back({mark::not_checkable, title,
                     "not covered: the sync skips it (the key has no " + names + " scope)",
                     "add " + names + " to the key under Settings > API Keys > Edit API Key"});
    }
  }
  return out;
}

}  // namespace sgs::setup
