// Lookup from an adjacent token pair (left id, right id) to its BPE merge: the merge's
// rank (lower merges first) and the id of the merged piece. Open addressing with linear
// probing: the encoder does one lookup per candidate pair, so this is the hot path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace facet {

struct PairMerge {
  int32_t rank = -1;    // position in the merge list; -1 = no merge for this pair
  int32_t result = -1;  // id of the merged piece
};

class MergeTable {
 public:
  explicit MergeTable(size_t expected_merges = 0) { reserve(expected_merges); }

  // Records a merge; the first insert of a pair wins (its rank is the lowest).
  void insert(int32_t left, int32_t right, PairMerge merge) {
    if ((size_ + 1) * 2 > slots_.size()) reserve(slots_.size() + 1);
    size_t slot = probe(key_of(left, right));
    if (slots_[slot].merge.rank >= 0) return;
    slots_[slot] = {key_of(left, right), merge};
    ++size_;
  }

  // Starts loading the slot of a pair that will be inserted or looked up soon.
  void prefetch(int32_t left, int32_t right) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home_slot(key_of(left, right))]);
  }

  PairMerge find(int32_t left, int32_t right) const {
    if (slots_.empty()) return {};
    return slots_[probe(key_of(left, right))].merge;
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key = 0;
    PairMerge merge;
  };

  static uint64_t key_of(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  // Fibonacci hashing: the top bits of the product depend on every bit of the key.
  size_t home_slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }

  // Slot holding `key`, or the empty slot where it would go.
  size_t probe(uint64_t key) const {
    size_t mask = slots_.size() - 1;
    size_t slot = home_slot(key);
    while (slots_[slot].merge.rank >= 0 && slots_[slot].key != key) slot = (slot + 1) & mask;
    return slot;
  }

  // Grows to a power of two at least twice `count` and re-inserts everything.
  void reserve(size_t count) {
    size_t capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    if (capacity <= slots_.size()) return;
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    for (const Slot& slot : old)
      if (slot.merge.rank >= 0) slots_[probe(slot.key)] = slot;
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
  int shift_ = 64;  // 64 - log2(capacity)
};

}  // namespace facet
