// `check`: one line per configured collection saying whether the key's scopes cover it
// (✓, or – with the scope to add: a collection the key may not read is skipped, not failed).
#pragma once

#include <string>
#include <vector>

#include "setup/checklist.hpp"

namespace sgs::setup {

// `configured`: the source's `collections` ("all" expands to every collection but the opt-in
// messages). `scopes`: what /v3/scopes listed.
std::vector<check_item> collection_scope_items(const std::vector<std::string>& configured,
                                               const std::vector<std::string>& scopes);

}  // namespace sgs::setup
