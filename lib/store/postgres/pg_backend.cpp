// The PostgreSQL backend: schemas per source, summaries, stored webhook keys.
#include "store/postgres/pg_backend.hpp"

#include "events/event.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/postgres/pg_event_store.hpp"
#include "store/postgres/pg_object_store.hpp"
#include "store/postgres/pg_schema.hpp"

namespace sgs::store::pg {

std::string pg_backend::location(std::string_view source) const {
  return redact(options_.conninfo) + " schema " + quote_ident(source);
}

void pg_backend::ensure_migrated(std::string_view source) {
  {
    std::lock_guard lock(mutex_);
    if (migrated_.count(source)) return;
  }
  migrate(source);
}

int pg_backend::migrate(std::string_view source) {
  return rethrow_as<store_error>([&] {
    connection c(options_.conninfo, {});
    const int v = pg::migrate(c, source);
    pg::maintain_partitions(c, source, std::chrono::system_clock::now(), 1,
                            options_.retention_days);
    std::lock_guard lock(mutex_);
    migrated_.emplace(source);
    return v;
  });
}

std::unique_ptr<event_store> pg_backend::open_event_store(std::string_view source) {
  ensure_migrated(source);
  pg_event_store_options o;
  o.conninfo = options_.conninfo;
  o.schema = std::string(source);
  o.dedup_window = options_.dedup_window;
  o.retention_days = options_.retention_days;
  return pg_event_store::open(o);
}

std::unique_ptr<object_store> pg_backend::open_object_store(std::string_view source) {
  try {
    ensure_migrated(source);
  } catch (const store_error& e) {
    throw object_store_error(e.what());
  }
  pg_object_store_options o;
  o.conninfo = options_.conninfo;
  o.schema = std::string(source);
  return pg_object_store::open(o);
}

bool pg_backend::exists(std::string_view source) const {
  return rethrow_as<std::runtime_error>([&] {
    connection c(options_.conninfo, {});
    return schema_version(c, source) > 0;
  });
}

store_summary pg_backend::read_summary(std::string_view source) {
  return rethrow_as<std::runtime_error>([&] {
    connection c(options_.conninfo, source);
    store_summary s;
    s.schema_version = schema_version(c, source);
    if (s.schema_version == 0) {
      throw std::runtime_error("no schema " + quote_ident(source) + " in " +
                               redact(options_.conninfo) +
                               " (nothing received yet; run `sendgrid-source migrate`)");
    }
    std::string counts;
    for (auto t : events::all_event_types) {
      counts += counts.empty() ? "SELECT " : ", ";
      counts += "(SELECT count(*) FROM " + std::string(events::table_name(t)) + ")";
    }
    counts +=
        ", (SELECT count(*) FROM rejected_events), (SELECT sgs_iso(max(received_at)) FROM "
        "activity)";
    auto r = c.exec(counts, "cannot count rows");
    int col = 0;
    for (auto t : events::all_event_types) {
      const auto n = r.int64(0, col++);
      s.tables.push_back({std::string(events::table_name(t)), n});
      s.total_events += n;
    }
    s.tables.push_back({"rejected_events", r.int64(0, col++)});
    if (!r.is_null(0, col)) s.last_received_at = std::string(r.text(0, col));
    if (s.schema_version >= 2) {
      auto runs = c.exec(
          "SELECT r.collection, r.status, sgs_iso(r.started_at), coalesce(sgs_iso(r.finished_at), "
          "''), r.rows_upserted, r.rows_tombstoned, coalesce(r.error, ''), "
          "coalesce((SELECT sgs_iso(max(finished_at)) FROM sync_runs s WHERE s.collection = "
          "r.collection AND s.status = 'succeeded'), '') FROM sync_runs r "
          "WHERE r.id = (SELECT max(id) FROM sync_runs WHERE collection = r.collection) "
          "ORDER BY r.collection",
          "cannot read sync_runs");
      for (int i = 0; i < runs.rows(); ++i) {
        last_sync_run run{std::string(runs.text(i, 0)),
                          std::string(runs.text(i, 1)),
                          std::string(runs.text(i, 2)),
                          std::string(runs.text(i, 3)),
                          runs.int64(i, 4),
                          runs.int64(i, 5),
                          0,
                          std::string(runs.text(i, 6)),
                          std::string(runs.text(i, 7))};
        // Collection names are the object tables' names; anything else is not queried.
        if (collection_from_name(run.collection)) {
          run.objects = c.exec("SELECT count(*) FROM " + quote_ident(run.collection) +
                                   " WHERE deleted_at IS NULL",
                               "cannot count " + run.collection)
                            .int64(0, 0);
        }
        s.last_syncs.push_back(std::move(run));
      }
    }
    return s;
  });
}

std::optional<std::string> pg_backend::read_last_arrival(std::string_view source) {
  return rethrow_as<std::runtime_error>([&]() -> std::optional<std::string> {
    connection c(options_.conninfo, source);
    if (schema_version(c, source) == 0) return std::nullopt;
    // Each table's arrival index answers max() with one probe per partition.
    auto r = c.exec(
        "SELECT sgs_iso(greatest((SELECT max(received_at) FROM activity), (SELECT "
        "max(received_at) FROM rejected_events)))",
        "cannot read the last arrival");
    if (r.is_null(0, 0)) return std::nullopt;
    return std::string(r.text(0, 0));
  });
}

bool pg_backend::add_webhook_key(std::string_view source, const stored_webhook_key& key) {
  ensure_migrated(source);
  return rethrow_as<std::runtime_error>([&] {
    connection c(options_.conninfo, source);
    return c.exec(
                "INSERT INTO webhook_verification_keys (public_key, webhook_id, webhook_url, "
                "added_at) VALUES ($1, $2, $3, $4::timestamptz) ON CONFLICT DO NOTHING",
                {key.public_key, key.webhook_id, key.webhook_url, key.added_at},
                "cannot store the webhook key")
               .affected() == 1;
  });
}

bool pg_backend::remove_webhook_key(std::string_view source, const std::string& public_key) {
  return rethrow_as<std::runtime_error>([&] {
    connection c(options_.conninfo, source);
    return c.exec("DELETE FROM webhook_verification_keys WHERE public_key = $1", {public_key},
                  "cannot remove the webhook key")
               .affected() == 1;
  });
}

std::vector<stored_webhook_key> pg_backend::read_webhook_keys(std::string_view source) {
  return rethrow_as<std::runtime_error>([&] {
    connection c(options_.conninfo, source);
    std::vector<stored_webhook_key> out;
    if (schema_version(c, source) < 2) return out;
    auto r = c.exec(
        "SELECT public_key, webhook_id, webhook_url, sgs_iso(added_at) FROM "
        "webhook_verification_keys ORDER BY added_at, public_key",
        "cannot read the webhook keys");
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({std::string(r.text(i, 0)), std::string(r.text(i, 1)),
                     std::string(r.text(i, 2)), std::string(r.text(i, 3))});
    }
    return out;
  });
}

webhook_key_poller pg_backend::poll_webhook_keys(std::string_view source) {
  // A key stored by `webhook configure` on any host is seen by every receiver: each poll
  // reads the (tiny) table on a kept connection and answers when the set changed.
  struct state {
    std::string conninfo;
    std::string schema;
    std::unique_ptr<connection> conn;
    std::optional<std::vector<std::string>> last;
  };
  auto s = std::make_shared<state>();
  s->conninfo = options_.conninfo;
  s->schema = std::string(source);
  return [s]() -> std::optional<std::vector<std::string>> {
    try {
      if (!s->conn || !s->conn->ok())
        s->conn = std::make_unique<connection>(s->conninfo, s->schema);
      std::vector<std::string> keys;
      if (schema_version(*s->conn, s->schema) >= 2) {
        auto r = s->conn->exec("SELECT public_key FROM webhook_verification_keys ORDER BY 1",
                               "cannot read the webhook keys");
        for (int i = 0; i < r.rows(); ++i) keys.emplace_back(r.text(i, 0));
      }
      if (s->last && *s->last == keys) return std::nullopt;
      s->last = keys;
      return keys;
    } catch (const pg_error& e) {
      s->conn.reset();
      throw std::runtime_error(e.what());
    }
  };
}

}  // namespace sgs::store::pg
