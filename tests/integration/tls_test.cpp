// HTTPS on the listener: a self-signed certificate made in the test, real TLS clients over
// 127.0.0.1, the limits under TLS, and reloading the certificate.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <fstream>
#include <thread>

#include "http_client.hpp"
#include "test_server.hpp"
#include "tls_cert.hpp"

using sgs::test::count_events;
using sgs::test::http_client;
using sgs::test::make_self_signed_certificate;
using sgs::test::temp_dir;
using sgs::test::test_certificate;
using sgs::test::test_server;
using sgs::test::tls_client_options;

namespace {

const std::string url = "/webhooks/sendgrid/default";

std::string batch_of(int client, int count) {
  std::string body = "[";
  for (int i = 0; i < count; ++i) {
    const std::string id = "t" + std::to_string(client) + "n" + std::to_string(i);
    if (i) body += ",\r\n";
    body += R"({"email":"u)" + id + R"(@example.com","timestamp":1700000000,"event":"delivered",)" +
            R"("sg_event_id":"ev-)" + id + R"(","sg_message_id":"m-)" + id + R"("})";
  }
  return body + "]\r\n";
}

sgs::webhook::server_options tls_options(const test_certificate& cert) {
  sgs::webhook::server_options o;
  o.tls = sgs::webhook::tls_files{cert.cert_file, cert.key_file};
  return o;
}

void copy_over(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

// A raw TCP connection, for clients that misbehave on purpose. Reads give up after 5 s.
struct raw_connection {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket{ioc};
  explicit raw_connection(std::uint16_t port) {
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    timeval limit{5, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  }
  void send(const std::string& bytes) { boost::asio::write(socket, boost::asio::buffer(bytes)); }
  // Everything the server sends until it closes; "<closed>" is appended when it did.
  std::string read_until_closed() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(socket.native_handle(), buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return out + "<closed>";
      if (n < 0 && errno == EAGAIN) return out;  // SO_RCVTIMEO passed: still open
      if (n > 0) out.append(buf, static_cast<std::size_t>(n));
    }
  }
};

class TlsTest : public ::testing::Test {
 protected:
  temp_dir dir;
  test_certificate cert = make_self_signed_certificate(dir.path(), "server");
  tls_client_options trusting(const test_certificate& c) const { return {c.cert_file, 0, 0}; }
};

TEST_F(TlsTest, BatchPostedOverHttpsIsStoredAndTheClientVerifiedTheCertificate) {
  test_server server(dir.path(), {"default"}, tls_options(cert));
  http_client client(server.port(), trusting(cert));
  EXPECT_EQ(client.peer_certificate_sha256(), cert.sha256);
  auto res = client.post(url, batch_of(1, 3));
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body, R"({"stored":3,"duplicates":0,"rejected":0})");
  // Keep-alive works through TLS: a second request on the same connection.
  EXPECT_EQ(client.post(url, batch_of(2, 2)).status, 200);
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(count_events(server.db_file()), 5);
}

TEST_F(TlsTest, ClientTrustingAnotherCertificateFailsTheHandshake) {
  const test_certificate other = make_self_signed_certificate(dir.path(), "other");
  test_server server(dir.path(), {"default"}, tls_options(cert));
  EXPECT_THROW(http_client(server.port(), trusting(other)), boost::system::system_error);
}

TEST_F(TlsTest, PlainHttpToTheTlsPortGets400SayingHttpsAndIsClosed) {
  test_server server(dir.path(), {"default"}, tls_options(cert));
  raw_connection plain(server.port());
  const std::string body = batch_of(3, 1);
  plain.send("POST " + url + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body);
  const std::string answer = plain.read_until_closed();
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_NE(answer.find("https://"), std::string::npos) << answer;
  EXPECT_NE(answer.find("<closed>"), std::string::npos) << answer;
  EXPECT_EQ(count_events(server.db_file()), 0);
}

TEST_F(TlsTest, Tls11ClientIsRefusedWhileTls12And13AreServed) {
  test_server server(dir.path(), {"default"}, tls_options(cert));
  tls_client_options old_client = trusting(cert);
  old_client.min_version = TLS1_1_VERSION;
  old_client.max_version = TLS1_1_VERSION;
  try {
    http_client refused(server.port(), old_client);
    ADD_FAILURE() << "a TLS 1.1 handshake succeeded";
  } catch (const boost::system::system_error& e) {
    // The server's alert, not a client-side refusal to offer TLS 1.1.
    EXPECT_NE(std::string(e.what()).find("protocol version"), std::string::npos) << e.what();
  }
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    tls_client_options exact = trusting(cert);
    exact.min_version = version;
    exact.max_version = version;
    http_client client(server.port(), exact);
    EXPECT_EQ(client.request("GET", "/healthz").status, 200) << version;
  }
}

TEST_F(TlsTest, ClientThatNeverFinishesTheHandshakeIsCutOffWhileOthersAreServed) {
  sgs::webhook::server_options options = tls_options(cert);
  options.handshake_timeout = std::chrono::seconds(1);
  test_server server(dir.path(), {"default"}, options);
  raw_connection silent(server.port());  // connects, sends nothing
  raw_connection trickling(server.port());
  trickling.send(std::string("\x16\x03\x01\x00", 4));  // the start of a ClientHello, no more
  http_client other(server.port(), trusting(cert));
  EXPECT_EQ(other.post(url, batch_of(4, 2)).status, 200);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(silent.read_until_closed(), "<closed>");
  EXPECT_EQ(trickling.read_until_closed(), "<closed>");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST_F(TlsTest, LimitsHoldUnderTls) {
  sgs::webhook::server_options options = tls_options(cert);
  options.max_body_bytes = 1000;
  options.idle_timeout = std::chrono::seconds(1);
  test_server server(dir.path(), {"default"}, options);
  http_client client(server.port(), trusting(cert));
  auto res = client.post(url, batch_of(5, 100));
  EXPECT_EQ(res.status, 413) << res.body;
  EXPECT_FALSE(client.connected());  // the rest of the body was not read: closed
  EXPECT_EQ(client.post(url, batch_of(6, 2)).status, 200);  // reconnects
  // Idle keep-alive: the server closes the connection after idle_timeout.
  EXPECT_TRUE(client.connected());
  EXPECT_FALSE(client.closed_by_server());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!client.closed_by_server() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_EQ(count_events(server.db_file()), 2);
}

TEST_F(TlsTest, ConnectionsOverTheCapGet503OverTls) {
  sgs::webhook::server_options options = tls_options(cert);
  options.max_connections = 2;
  test_server server(dir.path(), {"default"}, options);
  http_client first(server.port(), trusting(cert));
  http_client second(server.port(), trusting(cert));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  http_client extra(server.port(), trusting(cert));  // handshakes, then is told to retry
  EXPECT_EQ(extra.request("GET", "/healthz").status, 503);
}

TEST_F(TlsTest, ReloadServesTheNewCertificateToNewConnectionsOnly) {
  test_server server(dir.path(), {"default"}, tls_options(cert));
  http_client before(server.port(), trusting(cert));
  EXPECT_EQ(before.post(url, batch_of(8, 1)).status, 200);

  const test_certificate renewed = make_self_signed_certificate(dir.path(), "renewed");
  ASSERT_NE(renewed.sha256, cert.sha256);
  copy_over(renewed.cert_file, cert.cert_file);
  copy_over(renewed.key_file, cert.key_file);
  EXPECT_EQ(server.server().reload_tls(), std::nullopt);

  http_client after(server.port(), trusting(renewed));
  EXPECT_EQ(after.peer_certificate_sha256(), renewed.sha256);
  EXPECT_EQ(after.post(url, batch_of(9, 1)).status, 200);
  // The connection opened before the reload keeps working with the certificate it has.
  EXPECT_EQ(before.peer_certificate_sha256(), cert.sha256);
  EXPECT_EQ(before.post(url, batch_of(10, 1)).status, 200);
  EXPECT_EQ(count_events(server.db_file()), 3);
}

TEST_F(TlsTest, FailedReloadNamesTheFileAndKeepsTheOldCertificate) {
  test_server server(dir.path(), {"default"}, tls_options(cert));
  const auto trusted = dir.path() / "trusted.crt";  // the certificate served at start
  std::filesystem::copy_file(cert.cert_file, trusted);
  std::ofstream(cert.cert_file, std::ios::trunc) << "not a certificate\n";
  auto error = server.server().reload_tls();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("server.tls_cert_file"), std::string::npos) << *error;
  EXPECT_NE(error->find(cert.cert_file.string()), std::string::npos) << *error;

  // A certificate whose key is not the configured key: refused too.
  const test_certificate other = make_self_signed_certificate(dir.path(), "other");
  copy_over(other.cert_file, cert.cert_file);
  error = server.server().reload_tls();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("does not match"), std::string::npos) << *error;

  http_client client(server.port(), tls_client_options{trusted, 0, 0});
  EXPECT_EQ(client.peer_certificate_sha256(), cert.sha256);
  EXPECT_EQ(client.post(url, batch_of(11, 1)).status, 200);
}

TEST_F(TlsTest, FilesThatDoNotLoadAreNamedWithTheirConfigKey) {
  const auto missing = dir.path() / "missing.pem";
  auto error = sgs::webhook::check_tls_files({missing, cert.key_file});
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->rfind("server.tls_cert_file: ", 0), 0u) << *error;
  EXPECT_NE(error->find(missing.string()), std::string::npos) << *error;

  error = sgs::webhook::check_tls_files({cert.cert_file, cert.cert_file});  // no key in it
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->rfind("server.tls_key_file: ", 0), 0u) << *error;
  EXPECT_NE(error->find(cert.cert_file.string()), std::string::npos) << *error;

  EXPECT_EQ(sgs::webhook::check_tls_files({cert.cert_file, cert.key_file}), std::nullopt);

  temp_dir other_dir;
  sgs::webhook::server_options options;
  options.tls = sgs::webhook::tls_files{missing, cert.key_file};
  EXPECT_THROW(test_server(other_dir.path(), {"default"}, options), std::runtime_error);
}

}  // namespace
