// A fresh directory under the system temp dir for one test, removed with everything in it.
#pragma once

#include <filesystem>
#include <random>
#include <string>

namespace sgs::test {

struct temp_dir {
  std::filesystem::path dir;
  explicit temp_dir(const std::string& prefix = "sgs-test-") {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() /
          (prefix + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir);
  }
  ~temp_dir() { std::filesystem::remove_all(dir); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::filesystem::path file() const { return dir / "s.db"; }
};

}  // namespace sgs::test
