// SendGrid's official signed Event Webhook test vectors (sendgrid-api.md §9) and a key that
// signed neither; the payloads are byte-exact files in tests/data/signatures.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace sgs::test {

inline const std::string v1_key =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/"
    "7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
inline const std::string v1_signature =
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+"
    "luQAbPIqHh89M15TluLtEZtM=";
inline const std::string v1_timestamp = "1600112502";
inline const std::string v2_key =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ4LIFtWztlsF7skFqOncjD1lun4H5w8XOhyOArHW9RcIx/FfEzx6cikC/"
    "yPfUvwaX/JScE7Fc9CJD2afQ9Ok3Q==";
inline const std::string v2_signature =
    "MEYCIQC/I4o6vCgqRYrTljjoVWB/"
    "GRWNtxeePlLMHr3x9ETeRQIhAIpV+03nREPTTHWSW0wIOA0EoMPdcNgXa70yCaqDJlu5";
inline const std::string v2_timestamp = "1619651159";
inline const std::string other_key =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7a"
    "NDthvj+y7GjUuFDb/R1NGe1OPzpA==";

// tests/data/signatures/<name>, byte for byte (the signature covers the exact bytes).
inline std::string signature_payload(const std::string& name) {
  std::ifstream in(std::string(SGS_TEST_DATA_DIR) + "/signatures/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace sgs::test
