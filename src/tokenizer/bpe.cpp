#include "tokenizer/bpe.h"

#include <algorithm>
#include <functional>

namespace facet {
namespace {

constexpr auto kLowestFirst = std::greater<uint64_t>();

uint64_t candidate(int32_t rank, int32_t left) {
  return (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(left);
}

void queue_pair(int32_t left, BpeScratch& scratch, const MergeTable& merges) {
  const auto& symbols = scratch.symbols;
  int32_t right = symbols[left].next;
  if (right < 0) return;
  PairMerge merge = merges.find(symbols[left].id, symbols[right].id);
  if (merge.rank < 0) return;
  scratch.heap.push_back(candidate(merge.rank, left));
  std::push_heap(scratch.heap.begin(), scratch.heap.end(), kLowestFirst);
}

}  // namespace

void bpe_merge(const std::vector<int32_t>& symbol_ids, const MergeTable& merges, BpeScratch& scratch,
               std::vector<int32_t>& out) {
  const auto count = static_cast<int32_t>(symbol_ids.size());
  if (count <= 1) {
    out.insert(out.end(), symbol_ids.begin(), symbol_ids.end());
    return;
  }
  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  symbols.resize(count);
  for (int32_t i = 0; i < count; ++i) symbols[i] = {symbol_ids[i], i - 1, i + 1 < count ? i + 1 : -1};

  // Initial candidates, heapified in one O(n) pass.
  heap.clear();
  for (int32_t i = 0; i + 1 < count; ++i) {
    PairMerge merge = merges.find(symbols[i].id, symbols[i + 1].id);
    if (merge.rank >= 0) heap.push_back(candidate(merge.rank, i));
  }
  std::make_heap(heap.begin(), heap.end(), kLowestFirst);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), kLowestFirst);
    uint64_t top = heap.back();
    heap.pop_back();
    auto rank = static_cast<int32_t>(top >> 32);
    auto left_index = static_cast<int32_t>(top & 0xFFFFFFFFu);
    // The candidate is stale if its left symbol was merged away or the pair there has
    // changed since it was queued. Each rank names exactly one pair, so an unchanged
    // rank means an unchanged pair.
    BpeScratch::Symbol& left = symbols[left_index];
    if (left.id < 0 || left.next < 0) continue;
    BpeScratch::Symbol& right = symbols[left.next];
    PairMerge merge = merges.find(left.id, right.id);
    if (merge.rank != rank) continue;

    left.id = merge.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = left_index;
    right.id = -1;
    if (left.prev >= 0) queue_pair(left.prev, scratch, merges);
    queue_pair(left_index, scratch, merges);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace facet
