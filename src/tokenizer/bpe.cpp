#include "tokenizer/bpe.h"

#include <algorithm>

namespace facet {
namespace {

// std heap functions build a max-heap; "greater" puts the lowest (rank, left) on top.
bool later_than(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
}

void queue_pair(int32_t left, BpeScratch& scratch, const MergeTable& merges) {
  const auto& symbols = scratch.symbols;
  int32_t right = symbols[left].next;
  if (right < 0) return;
  PairMerge merge = merges.find(symbols[left].id, symbols[right].id);
  if (merge.rank < 0) return;
  scratch.heap.push_back({merge.rank, left, symbols[left].id, symbols[right].id, merge.result});
  std::push_heap(scratch.heap.begin(), scratch.heap.end(), later_than);
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
    if (merge.rank >= 0) heap.push_back({merge.rank, i, symbols[i].id, symbols[i + 1].id, merge.result});
  }
  std::make_heap(heap.begin(), heap.end(), later_than);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later_than);
    BpeScratch::Candidate top = heap.back();
    heap.pop_back();
    // A merge only ever lengthens a symbol, so matching ids mean neither symbol has
    // changed since this candidate was queued (and `right` is still `left`'s neighbour).
    BpeScratch::Symbol& left = symbols[top.left];
    if (left.id != top.left_id || left.next < 0) continue;
    BpeScratch::Symbol& right = symbols[left.next];
    if (right.id != top.right_id) continue;

    left.id = top.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.id = -1;
    if (left.prev >= 0) queue_pair(left.prev, scratch, merges);
    queue_pair(top.left, scratch, merges);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace facet
