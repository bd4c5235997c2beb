// Rebuilds a source's verifier from its stored keys when they change.
#include "webhook/stored_keys.hpp"

namespace sgs::webhook {

stored_keys::stored_keys(loader load, std::function<void(std::string_view)> on_error,
                         std::chrono::milliseconds refresh_interval, clock_fn now)
    : load_(std::move(load)),
      on_error_(std::move(on_error)),
      interval_(refresh_interval),
      now_(std::move(now)) {
  std::lock_guard lock(refresh_mutex_);
  last_check_ = now_();
  refresh();
}

std::shared_ptr<const events::signature_verifier> stored_keys::current() {
  const auto called = now_();
  if (refresh_due(called)) {
    // Invariant 2: wait for a refresh in progress rather than return what it replaces; then
    // look again, as a refresh that started after this call read all it needs.
    std::lock_guard refreshing(refresh_mutex_);
    if (refresh_due(called)) {
      {
        std::lock_guard lock(snapshot_mutex_);
        last_check_ = now_();
      }
      refresh();
    }
  }
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

bool stored_keys::refresh_due(std::chrono::steady_clock::time_point called) const {
  std::lock_guard lock(snapshot_mutex_);
  return called - last_check_ >= interval_;
}

std::size_t stored_keys::key_count() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_keys_;
}

void stored_keys::refresh() {
  std::optional<std::vector<std::string>> loaded;
  try {
    loaded = load_();
  } catch (const std::exception& e) {
    if (on_error_ && last_error_ != e.what()) on_error_(e.what());
    last_error_ = e.what();
    return;
  }
  last_error_.clear();
  if (!loaded || *loaded == keys_) return;
  keys_ = std::move(*loaded);
  // Each key on its own, so one bad row does not disable the others.
  std::vector<std::string> usable;
  for (const auto& k : keys_) {
    auto one = events::signature_verifier::from_base64_keys({k});
    if (auto* err = std::get_if<std::string>(&one)) {
      if (on_error_) on_error_("ignoring a stored webhook key: " + *err);
      continue;
    }
    usable.push_back(k);
  }
  std::shared_ptr<const events::signature_verifier> next;
  if (!usable.empty()) {
    next = std::make_shared<const events::signature_verifier>(
        std::get<events::signature_verifier>(events::signature_verifier::from_base64_keys(usable)));
  }
  std::lock_guard lock(snapshot_mutex_);
  snapshot_ = std::move(next);
  snapshot_keys_ = usable.size();
}

}  // namespace sgs::webhook
