// Read-only summary of a source's SQLite file for `status` and /healthz: row counts, last event.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "store/summary.hpp"

namespace sgs::store {

// Opens the file read-only (it may be in use by a running daemon: WAL readers never block
// the writer) and counts rows. Throws std::runtime_error naming the file when it cannot.
store_summary read_summary(const std::filesystem::path& file);

// The newest received_at of anything stored: event rows, rejected elements and acknowledged
// bodies not yet moved into the tables. Cheap on any size (the last rowid of each table), so
// it can be polled. nullopt when nothing was received or the file does not exist. Throws
// std::runtime_error naming the file when it cannot be read.
std::optional<std::string> read_last_arrival(const std::filesystem::path& file);

}  // namespace sgs::store
