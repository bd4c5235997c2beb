// The sendgrid-source binary as an operator runs it: `check` and `webhook configure` against
// the fake SendGrid API on 127.0.0.1 (the source's api_base points at it), with `run` as a
// child process receiving the signed test events.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "fake_sendgrid.hpp"
#include "http_client.hpp"
#include "setup/account_api.hpp"
#include "store/webhook_keys.hpp"
#include "test_server.hpp"

extern char** environ;

using namespace std::chrono_literals;
using sgs::test::fake_account;
using sgs::test::fake_sendgrid;
using sgs::test::temp_dir;

namespace {

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A child process with stdout and stderr in files under `dir`.
class child {
 public:
  child(const std::filesystem::path& dir, const std::string& name,
        const std::vector<std::string>& args)
      : out_(dir / (name + ".out")), err_(dir / (name + ".err")) {
    std::vector<char*> argv;
    std::vector<std::string> all{SGS_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (posix_spawn(&pid_, SGS_BINARY, &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Waits up to `timeout` for the exit; kills it after that (exit_code -1).
  run_result wait(std::chrono::milliseconds timeout) {
    run_result r;
    const auto until = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (pid_ > 0) {
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        reaped_ = true;
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() > until) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        reaped_ = true;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    r.out = read_text(out_);
    r.err = read_text(err_);
    return r;
  }
  void signal(int sig) { kill(pid_, sig); }
  std::string err_text() const { return read_text(err_); }

 private:
  std::filesystem::path out_, err_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

class SetupCli : public ::testing::Test {
 protected:
  void write_config(const std::string& public_url,
                    const std::string& collections = R"(["lists"])") {
    std::ofstream f(config);
    f << "[server]\nlisten = \"127.0.0.1:0\"\n";
    if (!public_url.empty()) f << "public_url = \"" << public_url << "\"\n";
    f << "[storage]\ndir = \"" << (dir.path() / "data").string() << "\"\n";
    f << "[log]\nlevel = \"info\"\n";
    f << "[[source]]\nname = \"shop\"\napi_key_env = \"SGS_TEST_SHOP_KEY\"\napi_base = \""
      << api.base_url() << "\"\ncollections = " << collections
      << "\nfrom_email = \"news@example.com\"\n"
         "unsubscribe_group_id = 12345\n";
  }
  run_result run(const std::string& name, std::vector<std::string> args,
                 std::chrono::milliseconds timeout = 30s) {
    args.insert(args.begin(), {"--config", config.string()});
    child c(dir.path(), name, args);
    return c.wait(timeout);
  }
  SetupCli() { setenv("SGS_TEST_SHOP_KEY", "SG.test-key", 1); }

  fake_sendgrid api;
  temp_dir dir;
  std::filesystem::path config = dir.path() / "config.toml";
};

}  // namespace

TEST_F(SetupCli, HelpExplainsBothCommands) {
  write_config("");
  auto check = run("check-help", {"check", "--help"});
  EXPECT_EQ(check.exit_code, 0);
  EXPECT_NE(check.out.find("Exit 0 when nothing failed, 1 when a required item failed"),
            std::string::npos)
      << check.out;
  auto configure = run("configure-help", {"webhook", "configure", "--help"});
  EXPECT_EQ(configure.exit_code, 0);
  EXPECT_NE(configure.out.find("--test"), std::string::npos) << configure.out;
  EXPECT_NE(configure.out.find("never creates a duplicate"), std::string::npos) << configure.out;
}

TEST_F(SetupCli, UsageErrorsExitWith2) {
  write_config("");
  auto no_url = run("no-url", {"webhook", "configure", "--source", "shop"});
  EXPECT_EQ(no_url.exit_code, 2) << no_url.out << no_url.err;
  EXPECT_NE(no_url.err.find("pass --url"), std::string::npos) << no_url.err;
  EXPECT_EQ(api.count("/v3/"), 0);
  auto unknown = run("unknown", {"check", "--source", "nope"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
  EXPECT_NE(unknown.err.find("no source named 'nope'"), std::string::npos) << unknown.err;
  auto missing = run("missing", {"webhook", "configure"});
  EXPECT_EQ(missing.exit_code, 2);
}

TEST_F(SetupCli, CheckConfigureTestAndCheckAgainAgainstTheFakeApi) {
  // 1. A new account: check fails on the items not set up, with their fixes.
  write_config("https://events.example.com");
  auto first = run("check-1", {"check", "--source", "shop"});
  EXPECT_EQ(first.exit_code, 1) << first.out << first.err;
  EXPECT_NE(first.out.find("\u2713 API key: accepted"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("\u2717 authenticated domain: none"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("fix: Settings > Sender Authentication > Authenticate Your Domain"),
            std::string::npos)
      << first.out;
  EXPECT_NE(first.out.find("\u2717 Event Webhook URL: no Event Webhook posts to "
                           "https://events.example.com/webhooks/sendgrid/shop"),
            std::string::npos)
      << first.out;

  // 2. The daemon runs; its port comes from its log.
  child daemon(dir.path(), "run", {"--config", config.string(), "run", "--io-threads", "1"});
  std::string port;
  for (int i = 0; i < 500 && port.empty(); ++i) {
    const std::string log = daemon.err_text();
    const std::string marker = "listening: POST http://127.0.0.1:";
    if (auto at = log.find(marker); at != std::string::npos) {
      auto end = log.find('/', at + marker.size());
      if (end != std::string::npos) port = log.substr(at + marker.size(), end - at - marker.size());
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(port.empty()) << daemon.err_text();
  const std::string url = "http://127.0.0.1:" + port + "/webhooks/sendgrid/shop";

  // 3. webhook configure --test: creates the webhook, stores the key, the test events arrive
  // at the running daemon signed with that key.
  auto configured = run("configure-1", {"webhook", "configure", "--source", "shop", "--url", url,
                                        "--test", "--wait-seconds", "20"});
  EXPECT_EQ(configured.exit_code, 0) << configured.out << configured.err;
  EXPECT_NE(configured.out.find("created Event Webhook"), std::string::npos) << configured.out;
  EXPECT_NE(configured.out.find("stored its public key"), std::string::npos) << configured.out;
  EXPECT_NE(configured.out.find("the test events arrived"), std::string::npos) << configured.out;
  ASSERT_TRUE(api.wait_test_posts(1, 5s));
  EXPECT_EQ(api.test_post_statuses().at(0), 200);

  // 4. Again: the same webhook is found and updated, no second one.
  auto again = run("configure-2", {"webhook", "configure", "--source", "shop", "--url", url});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("updated Event Webhook"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("already stored"), std::string::npos) << again.out;
  api.edit([](fake_account& a) { EXPECT_EQ(a.webhooks.size(), 1u); });
  EXPECT_EQ(sgs::store::read_webhook_keys(dir.path() / "data" / "shop.db").size(), 1u);

  // 5. The running daemon now refuses unsigned posts: it picks the stored key up within a
  // second (its refresh interval), without a restart.
  sgs::test::http_client client(static_cast<std::uint16_t>(std::stoi(port)));
  int status = 0;
  for (int i = 0; i < 40 && status != 403; ++i) {
    status = client
                 .post("/webhooks/sendgrid/shop",
                       R"([{"email":"x@example.com","timestamp":1,"event":"open"}])")
                 .status;
    if (status != 403) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, 403);

  // 6. The rest of the account set up: check passes, every line a tick.
  api.edit([](fake_account& a) {
    a.domains = {{"example.com", true}};
    a.senders = {{"news@example.com", true}};
    a.groups = {{12345, "Weekly News"}};
  });
  write_config("http://127.0.0.1:" + port);
  auto last = run("check-2", {"check"});
  EXPECT_EQ(last.exit_code, 0) << last.out << last.err;
  EXPECT_EQ(last.out.find("\u2717"), std::string::npos) << last.out;
  // The one "–": account_status_change, which SendGrid leaves off by default, is recommended.
  const auto dash = last.out.find("\u2013");
  EXPECT_EQ(last.out.find("\u2013 Event Webhook optional event types: not posted: "
                          "account_status_change"),
            dash)
      << last.out;
  EXPECT_EQ(last.out.find("\u2013", dash + 1), std::string::npos) << last.out;
  EXPECT_NE(last.out.find("\u2713 Event Webhook signing: on, with a key this source holds"),
            std::string::npos)
      << last.out;
  EXPECT_NE(last.out.find("\u2713 last event: received at"), std::string::npos) << last.out;

  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s).exit_code, 0);
}

TEST_F(SetupCli, KeyWithoutWebhookPermissionGetsTheirNamesAndExit1) {
  write_config("https://events.example.com");
  api.edit([](fake_account& a) { a.scopes = {"marketing.read"}; });
  auto r = run("forbidden", {"webhook", "configure", "--source", "shop"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("user.webhooks.event.settings.update"), std::string::npos) << r.out;
  auto check = run("forbidden-check", {"check", "--source", "shop"});
  EXPECT_NE(check.out.find("\u2013 Event Webhook: not checkable"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("user.webhooks.event.settings.read"), std::string::npos) << check.out;
}

// Issue 16: a key without one collection's scope. `sync` skips that collection naming the
// scope, syncs the others and exits 0 (a missing scope is not a failure of the run); `status`
// shows the collection skipped with why.
TEST_F(SetupCli, SyncSkipsACollectionTheKeyHasNoScopeForAndExits0) {
  write_config("", R"(["lists", "templates"])");
  api.edit([](fake_account& a) { a.scopes = {"marketing.read"}; });
  auto r = run("sync-skip", {"sync", "--source", "shop"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("'templates.read'"), std::string::npos) << r.out;
  auto status = run("status-skip", {"status", "--source", "shop"});
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  const auto line = status.out.find("templates ");
  ASSERT_NE(line, std::string::npos) << status.out;
  EXPECT_NE(status.out.find("skipped", line), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("'templates.read'", line), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("lists "), std::string::npos) << status.out;

  // The same key lacking the scope of the only collection configured: still exit 0.
  write_config("", R"(["templates"])");
  EXPECT_EQ(run("sync-skip-only", {"sync", "--source", "shop"}).exit_code, 0);
  // A collection that fails (here: the API refuses lists with a 400, not retried) makes it
  // exit 1.
  write_config("", R"(["lists"])");
  sgs::test::fake_response broken;
  broken.status = 400;
  broken.body = R"({"errors":[{"message":"bad request"}]})";
  api.override_path("/v3/marketing/lists", broken);
  EXPECT_EQ(run("sync-fail", {"sync", "--source", "shop"}).exit_code, 1);
}

// Issue 13: a key SendGrid returns that the daemon cannot use is an error (exit 1, no ✓ for
// storing it); a stored one is an error in `check` and `status`.
TEST_F(SetupCli, UnusableVerificationKeyIsAnErrorInConfigureCheckAndStatus) {
  write_config("https://events.example.com");
  api.edit([](fake_account& a) { a.public_key_override = "bm90IGEga2V5"; });
  auto configured = run("configure-bad-key", {"webhook", "configure", "--source", "shop"});
  EXPECT_EQ(configured.exit_code, 1) << configured.out << configured.err;
  EXPECT_NE(configured.out.find("\u2717 SendGrid's verification key for webhook"),
            std::string::npos)
      << configured.out;
  EXPECT_EQ(configured.out.find("stored its public key"), std::string::npos) << configured.out;
  EXPECT_TRUE(sgs::store::read_webhook_keys(dir.path() / "data" / "shop.db").empty());

  // One stored by an older version.
  sgs::store::stored_webhook_key bad;
  bad.public_key = "bm90IGEga2V5";
  bad.webhook_id = "wh-1";
  bad.webhook_url = "https://events.example.com/webhooks/sendgrid/shop";
  bad.added_at = "2025-01-01T00:00:00.000Z";
  ASSERT_TRUE(sgs::store::add_webhook_key(dir.path() / "data" / "shop.db", bad, 1000ms));
  auto check = run("check-bad-key", {"check", "--source", "shop"});
  EXPECT_EQ(check.exit_code, 1) << check.out << check.err;
  EXPECT_NE(check.out.find("\u2717 stored webhook key: bm90IGEga2V5 cannot be used to verify "
                           "signatures (it is not a public key"),
            std::string::npos)
      << check.out;
  auto status = run("status-bad-key", {"status"});
  EXPECT_EQ(status.exit_code, 1) << status.out << status.err;
  EXPECT_NE(status.out.find("stored webhook key bm90IGEga2V5 cannot be used"), std::string::npos)
      << status.out;
  EXPECT_NE(status.out.find("webhook configure --source shop"), std::string::npos) << status.out;
}
