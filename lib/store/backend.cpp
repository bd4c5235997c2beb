// make_backend: the one place that turns [storage] into a store implementation.
#include "store/backend.hpp"

#include <fstream>
#include <sstream>

#include "config/secrets.hpp"
#include "store/postgres/pg_backend.hpp"
#include "store/sqlite_backend.hpp"

namespace sgs::store {

namespace {

// storage.url_file: the URL with its password, e.g. from systemd's LoadCredential=. The
// message names the file, never its content.
std::string read_url_file(const std::filesystem::path& configured) {
  const auto path = config::resolve_api_key_path(configured);
  std::ifstream in(path);
  if (!in) throw store_error("storage.url_file " + path.string() + " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  std::string url = text.str();
  while (!url.empty() && std::isspace(static_cast<unsigned char>(url.back()))) url.pop_back();
  while (!url.empty() && std::isspace(static_cast<unsigned char>(url.front()))) url.erase(0, 1);
  if (url.empty()) throw store_error("storage.url_file " + path.string() + " is empty");
  return url;
}

}  // namespace

std::unique_ptr<backend> make_backend(const config::storage_config& storage) {
  if (storage.backend == config::storage_backend::postgresql) {
    return std::make_unique<pg::pg_backend>(pg::pg_backend_options{
        .conninfo = storage.url_file.empty() ? storage.url : read_url_file(storage.url_file),
        .dedup_window = std::chrono::hours(storage.dedup_window_hours),
        .retention_days = storage.retention_days == 0
                              ? std::nullopt
                              : std::optional<int>(static_cast<int>(storage.retention_days))});
  }
  return std::make_unique<sqlite_backend>(sqlite_backend_options{
      .dir = storage.dir,
      .synchronous_full = storage.synchronous == config::synchronous_mode::full,
      .busy_timeout = storage.busy_timeout,
      .dedup_window = std::chrono::hours(storage.dedup_window_hours)});
}

}  // namespace sgs::store
