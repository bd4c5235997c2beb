// In-memory set of the dedup keys (sg_event_id and content fingerprints) seen within the
// dedup window; replaces a UNIQUE index on random keys, which would halve the insert rate.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "events/event.hpp"

namespace sgs::store {

// Keys live in time generations of window/2 each; a generation is dropped only once all of
// its span is older than the window, so every key is kept for at least the window (and at
// most 1.5 windows). Lookups probe every live generation (at most 4).
//
// Each generation is a set of open-addressing tables of 128-bit keys (16 bytes a key, load
// 0.6-0.9, Robin Hood probing): a std::unordered_set would need ~4x the memory.
//
// Not thread-safe: owned and used by the store's writer thread only.
class dedup_index {
 public:
  using clock = std::chrono::system_clock;

  explicit dedup_index(std::chrono::hours window);

  bool contains(const events::dedup_key& key) const;
  // Inserts a key seen at `seen_at` (arrival time), into that time's generation.
  void insert(const events::dedup_key& key, clock::time_point seen_at);
  // Drops generations that are entirely older than the window as of `now`.
  void expire(clock::time_point now);

  std::size_t size() const;
  std::size_t memory_bytes() const;
  std::chrono::hours window() const { return window_; }

 private:
  // One Robin Hood table per 1/64 of the key space: the tables fill and grow (by 1.5x, any
  // size) one after another, so growing never holds two copies of the whole set at once.
  class flat_set {
   public:
    bool contains(const events::dedup_key& key) const;
    bool insert(const events::dedup_key& key);  // false when present already
    std::size_t size() const;
    std::size_t memory_bytes() const;

   private:
    // Zero-filled slots ({0,0} marks an empty one) in memory of their own: large arrays are
    // mapped in 2 MiB pages (see dedup_index.cpp).
    class slot_array {
     public:
      slot_array() = default;
      explicit slot_array(std::size_t n);
      slot_array(slot_array&& o) noexcept { swap(o); }
      slot_array& operator=(slot_array&& o) noexcept {
        slot_array(std::move(o)).swap(*this);
        return *this;
      }
      ~slot_array();
      std::size_t size() const { return size_; }
      events::dedup_key& operator[](std::size_t i) { return data_[i]; }
      const events::dedup_key& operator[](std::size_t i) const { return data_[i]; }
      const events::dedup_key* begin() const { return data_; }
      const events::dedup_key* end() const { return data_ + size_; }
      void swap(slot_array& o) noexcept {
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        std::swap(mapped_bytes_, o.mapped_bytes_);
      }

     private:
      events::dedup_key* data_ = nullptr;
      std::size_t size_ = 0;
      std::size_t mapped_bytes_ = 0;  // 0: from calloc
    };
    struct segment {
      slot_array slots;
      std::size_t size = 0;
      bool contains(const events::dedup_key& key) const;
      void place(events::dedup_key key);  // Robin Hood insert of a key known to be absent
      void grow();
      std::size_t home(const events::dedup_key& key) const;
    };
    static constexpr std::size_t segment_count = 64;
    const segment& segment_of(const events::dedup_key& key) const {
      return segments_[key.high >> 58];
    }
    segment& segment_of(const events::dedup_key& key) { return segments_[key.high >> 58]; }
    std::array<segment, segment_count> segments_;
  };
  struct generation {
    std::int64_t id;  // floor(arrival time / span)
    flat_set keys;
  };

  std::int64_t generation_of(clock::time_point t) const;

  std::chrono::hours window_;
  std::chrono::seconds span_;
  std::deque<generation> generations_;  // ascending id
};

}  // namespace sgs::store
