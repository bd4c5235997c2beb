// The sync integration tests' fixture: fake API, real client, SQLite store, injected time.
#include "sync_fixture.hpp"

#include "fake_client.hpp"
#include "sendgrid/session.hpp"
#include "store/sqlite_object_store.hpp"

namespace sgs::test {

using namespace std::chrono_literals;

sync_fixture::sync_fixture() {
  store::object_store_options so;
  so.file = dir.path() / "default.db";
  store = store::sqlite_object_store::open(so);
  client_options = client_options_for(api);
  policy = quick_retries(3, 4ms);
  options.now = [this] { return now; };
}

sync::source_result sync_fixture::run_sync(std::vector<store::collection> only) {
  sendgrid::api_client client(client_options);
  sendgrid::session_env env;
  env.sleep = [this](std::chrono::milliseconds d) {
    std::lock_guard lock(mutex);
    waits.push_back(d);
    return true;
  };
  env.now = [this] { return now; };
  env.random01 = [] { return 0.5; };
  sendgrid::api_session session(client, policy, env);
  auto o = options;
  if (!only.empty()) o.collections = std::move(only);
  return sync::sync_source(session, *store, o);
}

std::string sync_fixture::q(const std::string& sql) {
  return query_text(dir.path() / "default.db", sql);
}

}  // namespace sgs::test
