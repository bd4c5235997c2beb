// Writes and reads webhook_verification_keys; the daemon's reader re-reads only on change.
#include "store/webhook_keys.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <stdexcept>

#include "store/migrations.hpp"

namespace sgs::store {

namespace {

// The table exists from schema version 3 on.
constexpr int keys_schema_version = 3;

std::vector<stored_webhook_key> select_keys(SQLite::Database& db) {
  std::vector<stored_webhook_key> out;
  if (db.execAndGet("PRAGMA user_version").getInt() < keys_schema_version) return out;
  SQLite::Statement q(db,
                      "SELECT public_key, webhook_id, webhook_url, added_at "
                      "FROM webhook_verification_keys ORDER BY added_at, rowid");
  while (q.executeStep()) {
    out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                   q.getColumn(2).getString(), q.getColumn(3).getString()});
  }
  return out;
}

}  // namespace

bool add_webhook_key(const std::filesystem::path& file, const stored_webhook_key& key,
                     std::chrono::milliseconds busy_timeout) {
  try {
    std::error_code ec;
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.setBusyTimeout(static_cast<int>(busy_timeout.count()));
    db.exec("PRAGMA journal_mode=WAL");
    try {
      migrate(db);
    } catch (const migration_error&) {
      // A running daemon may have migrated the file between our read and our transaction.
      if (db.execAndGet("PRAGMA user_version").getInt() < keys_schema_version) throw;
    }
    SQLite::Statement insert(db,
                             "INSERT OR IGNORE INTO webhook_verification_keys "
                             "(public_key, webhook_id, webhook_url, added_at) VALUES (?, ?, ?, ?)");
    insert.bind(1, key.public_key);
    insert.bind(2, key.webhook_id);
    insert.bind(3, key.webhook_url);
    insert.bind(4, key.added_at);
    return insert.exec() == 1;
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("cannot store the webhook key in " + file.string() + ": " + e.what());
  } catch (const migration_error& e) {
    throw std::runtime_error(e.what());
  }
}

bool remove_webhook_key(const std::filesystem::path& file, const std::string& public_key,
                        std::chrono::milliseconds busy_timeout) {
  try {
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(static_cast<int>(busy_timeout.count()));
    SQLite::Statement del(db, "DELETE FROM webhook_verification_keys WHERE public_key = ?");
    del.bind(1, public_key);
    return del.exec() > 0;
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("cannot remove a webhook key from " + file.string() + ": " + e.what());
  }
}

std::vector<stored_webhook_key> read_webhook_keys(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) return {};
  try {
    SQLite::Database db(file.string(), SQLite::OPEN_READONLY);
    db.setBusyTimeout(5000);
    return select_keys(db);
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("cannot read the webhook keys in " + file.string() + ": " + e.what());
  }
}

webhook_key_reader::webhook_key_reader(std::filesystem::path file) : file_(std::move(file)) {}

webhook_key_reader::~webhook_key_reader() = default;

std::optional<std::vector<std::string>> webhook_key_reader::read_if_changed() {
  try {
    if (!db_) {
      if (!std::filesystem::exists(file_)) return std::vector<std::string>{};
      db_ = std::make_unique<SQLite::Database>(file_.string(), SQLite::OPEN_READONLY);
      // Called on a request path: never wait long for a lock (a WAL reader rarely needs one).
      db_->setBusyTimeout(100);
      data_version_.reset();
    }
    const long long version = db_->execAndGet("PRAGMA data_version").getInt64();
    if (data_version_ && *data_version_ == version) return std::nullopt;
    data_version_ = version;
    std::vector<std::string> keys;
    for (auto& k : select_keys(*db_)) keys.push_back(std::move(k.public_key));
    return keys;
  } catch (const SQLite::Exception& e) {
    db_.reset();
    throw std::runtime_error("cannot read the webhook keys in " + file_.string() + ": " + e.what());
  }
}

}  // namespace sgs::store
