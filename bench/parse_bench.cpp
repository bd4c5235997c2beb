// Webhook body -> typed events (events::parse_batch) on one core, no I/O: the parse cost the
// I/O threads pay per event, for comparing parser changes.
//
//   parse_bench DIR [ROUNDS]
//
// DIR holds batch_*.json from ../shared/bench/gen_events.py. Every body is parsed ROUNDS
// times (default 20); prints events/s and ns/event of the best and the median round.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "events/parse.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [ROUNDS]\n", argv[0]);
    return 2;
  }
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 20;
  std::vector<std::string> bodies;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    const auto name = entry.path().filename().string();
    if (!name.starts_with("batch_") || !name.ends_with(".json")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    bodies.push_back(text.str());
  }
  if (bodies.empty()) {
    std::fprintf(stderr, "no batch_*.json in %s\n", argv[1]);
    return 2;
  }
  std::vector<double> ns_per_event;
  std::size_t events = 0;
  for (int r = 0; r < rounds; ++r) {
    events = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const auto& body : bodies) {
      auto parsed = sgs::events::parse_batch(body);
      if (auto* batch = std::get_if<sgs::events::parsed_batch>(&parsed)) {
        events += batch->events.size();
      } else {
        std::fprintf(stderr, "a body did not parse: %s\n",
                     std::get<sgs::events::batch_error>(parsed).message.c_str());
        return 1;
      }
    }
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    ns_per_event.push_back(took.count() / static_cast<double>(events));
  }
  std::sort(ns_per_event.begin(), ns_per_event.end());
  const double best = ns_per_event.front();
  const double median = ns_per_event[ns_per_event.size() / 2];
  std::printf("bodies=%zu events_per_round=%zu rounds=%d\n", bodies.size(), events, rounds);
  std::printf("best: %.0f ns/event, %.0f events/s\n", best, 1e9 / best);
  std::printf("median: %.0f ns/event, %.0f events/s\n", median, 1e9 / median);
  return 0;
}
