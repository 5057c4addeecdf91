// Exact lookup from piece text to id. Open addressing over ids whose text lives
// elsewhere (the tokenizer's packed piece arena): far fewer cache misses than a
// node-based map when resolving half a million merges at load time.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace facet {

inline uint64_t hash_piece(std::string_view text) {
  uint64_t hash = 0x9E3779B97F4A7C15ull ^ text.size();
  size_t pos = 0;
  for (; pos + 8 <= text.size(); pos += 8) {
    uint64_t word;
    std::memcpy(&word, text.data() + pos, 8);
    hash = (hash ^ word) * 0xBF58476D1CE4E5B9ull;
    hash ^= hash >> 31;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, text.data() + pos, text.size() - pos);
  hash = (hash ^ tail) * 0x94D049BB133111EBull;
  return hash ^ (hash >> 29);
}

class PieceIndex {
 public:
  // Indexes ids 0..count-1; `piece_of(id)` returns the id's text. For a text held by
  // several ids the lowest id is kept.
  template <typename PieceOf>
  void build(int32_t count, const PieceOf& piece_of) {
    size_t capacity = 16;
    while (capacity < static_cast<size_t>(count) * 2) capacity *= 2;
    slots_.assign(capacity, Slot{0, -1});
    for (int32_t id = 0; id < count; ++id) {
      std::string_view piece = piece_of(id);
      uint64_t hash = hash_piece(piece);
      size_t slot = lookup(piece, hash, piece_of);
      if (slots_[slot].id < 0) slots_[slot] = {static_cast<uint32_t>(hash), id};
    }
  }

  // The id of `piece`, or -1.
  template <typename PieceOf>
  int32_t find(std::string_view piece, const PieceOf& piece_of) const {
    if (slots_.empty()) return -1;
    return slots_[lookup(piece, hash_piece(piece), piece_of)].id;
  }

 private:
  struct Slot {
    uint32_t hash_tag;  // low hash bits: skips most string compares on collisions
    int32_t id;         // -1 = empty
  };

  template <typename PieceOf>
  size_t lookup(std::string_view piece, uint64_t hash, const PieceOf& piece_of) const {
    size_t mask = slots_.size() - 1;
    size_t slot = static_cast<size_t>(hash >> 32) & mask;
    auto tag = static_cast<uint32_t>(hash);
    while (slots_[slot].id >= 0 && !(slots_[slot].hash_tag == tag && piece_of(slots_[slot].id) == piece))
      slot = (slot + 1) & mask;
    return slot;
  }

  std::vector<Slot> slots_;
};

}  // namespace facet
