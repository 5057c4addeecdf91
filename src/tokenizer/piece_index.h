// Exact lookup from piece text to id. Open addressing over ids whose text lives
// elsewhere (the tokenizer's packed piece arena). Each slot also keeps the piece's length
// and first 8 bytes, so most lookups (short pieces) touch one cache line instead of
// three: resolving half a million merges at load time is bound by these misses.
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
    slots_.assign(capacity, Slot{0, 0, -1});
    for (int32_t id = 0; id < count; ++id) {
      std::string_view piece = piece_of(id);
      size_t slot = lookup(piece, hash_piece(piece), piece_of);
      if (slots_[slot].id < 0) slots_[slot] = {head_of(piece), static_cast<uint32_t>(piece.size()), id};
    }
  }

  // The id of `piece`, or -1.
  template <typename PieceOf>
  int32_t find(std::string_view piece, const PieceOf& piece_of) const {
    return find_hashed(piece, hash_piece(piece), piece_of);
  }

  // For batched lookups: start loading the slot of a piece with this hash, look it up
  // later with find_hashed, so that many cache misses overlap instead of queueing.
  void prefetch(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home_slot(hash)]);
  }
  template <typename PieceOf>
  int32_t find_hashed(std::string_view piece, uint64_t hash, const PieceOf& piece_of) const {
    if (slots_.empty()) return -1;
    return slots_[lookup(piece, hash, piece_of)].id;
  }

 private:
  struct Slot {
    uint64_t head;    // the first 8 bytes of the piece, zero-padded
    uint32_t length;  // piece length in bytes
    int32_t id;       // -1 = empty
  };

  static uint64_t head_of(std::string_view piece) {
    uint64_t head = 0;
    std::memcpy(&head, piece.data(), piece.size() < 8 ? piece.size() : 8);
    return head;
  }

  // Slot holding `piece`, or the empty slot where it would go.
  size_t home_slot(uint64_t hash) const { return static_cast<size_t>(hash >> 32) & (slots_.size() - 1); }

  template <typename PieceOf>
  size_t lookup(std::string_view piece, uint64_t hash, const PieceOf& piece_of) const {
    size_t mask = slots_.size() - 1;
    size_t slot = home_slot(hash);
    uint64_t head = head_of(piece);
    for (;; slot = (slot + 1) & mask) {
      const Slot& s = slots_[slot];
      if (s.id < 0) return slot;
      if (s.length == piece.size() && s.head == head && (piece.size() <= 8 || piece_of(s.id) == piece)) return slot;
    }
  }

  std::vector<Slot> slots_;
};

}  // namespace facet
