// make_backend: the one place that turns [storage] into a store implementation.
#include "store/backend.hpp"

#include "store/sqlite_backend.hpp"

namespace sgs::store {

std::unique_ptr<backend> make_backend(const config::storage_config& storage) {
  // A PostgreSQL backend (SPEC §9) is chosen here from storage.backend once it exists.
  return std::make_unique<sqlite_backend>(sqlite_backend_options{
      .dir = storage.dir,
      .synchronous_full = storage.synchronous == config::synchronous_mode::full,
      .busy_timeout = storage.busy_timeout,
      .dedup_window = std::chrono::hours(storage.dedup_window_hours)});
}

}  // namespace sgs::store
