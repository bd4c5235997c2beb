// Generational open-addressing set of 128-bit dedup keys.
#include "store/dedup_index.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>

namespace sgs::store {
namespace {

// The all-zero key marks empty slots; a real key that hashes to zero is stored as {0,1}.
// (A 1-in-2^128 remap: it can only merge with another key equal to {0,1}.)
events::dedup_key storable(events::dedup_key key) {
  if (key.high == 0 && key.low == 0) key.low = 1;
  return key;
}

bool is_empty(const events::dedup_key& key) { return key.high == 0 && key.low == 0; }

}  // namespace

// Robin Hood linear probing: an insert takes the slot of a resident that is closer to its own
// home slot than the newcomer is to its home. Probe distances stay short even at 90% load, and
// a lookup stops as soon as it meets a resident closer to home than it has travelled (the key
// would have taken that slot). With a high load, 1.5x growth and 64 segments growing one at a
// time, a benchmark's million events (two million keys) take ~45 MiB at peak instead of the
// 96 MiB of one table doubling (docs/DESIGN.md).
namespace {
constexpr std::size_t max_load_percent = 90;
constexpr std::size_t initial_slots = 256;
__extension__ typedef unsigned __int128 uint128;  // GCC/Clang; __extension__ for -Wpedantic
}  // namespace

// A set of tens of millions of keys takes hundreds of MiB, and every lookup lands on a random
// slot: in 4 KiB pages each one is a TLB miss (a page walk, costly under virtualisation) and
// growing a segment faults its new array in 4 KiB at a time. Arrays of 2 MiB and more get
// their own mapping, aligned to 2 MiB and marked for transparent huge pages (THP in "madvise"
// mode, Debian's default); where THP is off they are ordinary pages. Both kinds of memory
// come zero-filled, which is the empty slot, so a new array needs no writing.
namespace {
constexpr std::size_t huge_page = 2 * 1024 * 1024;
}

dedup_index::flat_set::slot_array::slot_array(std::size_t n) : size_(n) {
  const std::size_t bytes = n * sizeof(events::dedup_key);
  if (bytes < huge_page) {
    data_ = static_cast<events::dedup_key*>(std::calloc(n, sizeof(events::dedup_key)));
    if (!data_) throw std::bad_alloc();
    return;
  }
  mapped_bytes_ = (bytes + huge_page - 1) / huge_page * huge_page;
  // Over-map by one huge page and trim, so that the array starts on a 2 MiB boundary.
  const std::size_t span = mapped_bytes_ + huge_page;
  void* p = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t aligned = (start + huge_page - 1) / huge_page * huge_page;
  if (aligned > start) munmap(p, aligned - start);
  const std::size_t tail = start + span - (aligned + mapped_bytes_);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + mapped_bytes_), tail);
  // Only the whole 2 MiB pages the array fills: a huge page over its last part would hold up to
  // 2 MiB past its end in RAM, 64 segments over.
  madvise(reinterpret_cast<void*>(aligned), bytes / huge_page * huge_page, MADV_HUGEPAGE);
  data_ = reinterpret_cast<events::dedup_key*>(aligned);
}

dedup_index::flat_set::slot_array::~slot_array() {
  if (mapped_bytes_) {
    munmap(data_, mapped_bytes_);
  } else {
    std::free(data_);
  }
}

std::size_t dedup_index::flat_set::segment::home(const events::dedup_key& key) const {
  // Maps the uniformly distributed low half onto [0, slots) without a division.
  return static_cast<std::size_t>((static_cast<uint128>(key.low) * slots.size()) >> 64);
}

bool dedup_index::flat_set::segment::contains(const events::dedup_key& key) const {
  const std::size_t n = slots.size();
  if (n == 0) return false;
  std::size_t i = home(key);
  for (std::size_t distance = 0;; ++distance) {
    const events::dedup_key& slot = slots[i];
    if (is_empty(slot)) return false;
    if (slot == key) return true;
    const std::size_t h = home(slot);
    if ((i >= h ? i - h : i + n - h) < distance) return false;
    i = i + 1 == n ? 0 : i + 1;
  }
}

void dedup_index::flat_set::segment::place(events::dedup_key key) {
  const std::size_t n = slots.size();
  std::size_t i = home(key);
  for (std::size_t distance = 0;; ++distance) {
    events::dedup_key& slot = slots[i];
    if (is_empty(slot)) {
      slot = key;
      return;
    }
    const std::size_t h = home(slot);
    const std::size_t resident_distance = i >= h ? i - h : i + n - h;
    if (resident_distance < distance) {
      std::swap(slot, key);
      distance = resident_distance;
    }
    i = i + 1 == n ? 0 : i + 1;
  }
}

void dedup_index::flat_set::segment::grow() {
  slot_array old = std::move(slots);
  slots = slot_array(old.size() == 0 ? initial_slots : old.size() + old.size() / 2);
  for (const auto& key : old) {
    if (!is_empty(key)) place(key);
  }
}

bool dedup_index::flat_set::contains(const events::dedup_key& raw) const {
  const events::dedup_key key = storable(raw);
  return segment_of(key).contains(key);
}

bool dedup_index::flat_set::insert(const events::dedup_key& raw) {
  const events::dedup_key key = storable(raw);
  segment& seg = segment_of(key);
  if (seg.contains(key)) return false;
  if ((seg.size + 1) * 100 > seg.slots.size() * max_load_percent) seg.grow();
  seg.place(key);
  ++seg.size;
  return true;
}

std::size_t dedup_index::flat_set::size() const {
  std::size_t n = 0;
  for (const auto& seg : segments_) n += seg.size;
  return n;
}

std::size_t dedup_index::flat_set::memory_bytes() const {
  std::size_t n = 0;
  for (const auto& seg : segments_) n += seg.slots.size() * sizeof(events::dedup_key);
  return n;
}

dedup_index::dedup_index(std::chrono::hours window)
    : window_(window), span_(std::max<std::chrono::seconds>(window / 2, std::chrono::seconds(1))) {}

std::int64_t dedup_index::generation_of(clock::time_point t) const {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch());
  return secs.count() / span_.count();
}

bool dedup_index::contains(const events::dedup_key& key) const {
  // Newest first: a duplicate is most likely a recent retry.
  for (auto it = generations_.rbegin(); it != generations_.rend(); ++it) {
    if (it->keys.contains(key)) return true;
  }
  return false;
}

void dedup_index::insert(const events::dedup_key& key, clock::time_point seen_at) {
  const std::int64_t id = generation_of(seen_at);
  auto it = std::lower_bound(generations_.begin(), generations_.end(), id,
                             [](const generation& g, std::int64_t v) { return g.id < v; });
  if (it == generations_.end() || it->id != id) {
    it = generations_.insert(it, generation{id, {}});
  }
  it->keys.insert(key);
}

void dedup_index::expire(clock::time_point now) {
  const auto cutoff = now - window_;
  const auto cutoff_secs =
      std::chrono::duration_cast<std::chrono::seconds>(cutoff.time_since_epoch()).count();
  // A generation [id*span, (id+1)*span) may go once its end is at or before the cutoff.
  while (!generations_.empty() && (generations_.front().id + 1) * span_.count() <= cutoff_secs) {
    generations_.pop_front();
  }
}

std::size_t dedup_index::size() const {
  std::size_t n = 0;
  for (const auto& g : generations_) n += g.keys.size();
  return n;
}

std::size_t dedup_index::memory_bytes() const {
  std::size_t n = 0;
  for (const auto& g : generations_) n += g.keys.memory_bytes();
  return n;
}

}  // namespace sgs::store
