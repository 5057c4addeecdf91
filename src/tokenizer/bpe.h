// The BPE merge loop: repeatedly merge the adjacent pair with the lowest merge rank
// (leftmost among equal ranks) until no adjacent pair has a merge.
#pragma once

#include <cstdint>
#include <vector>

#include "tokenizer/merge_table.h"

namespace facet {

// Working memory for bpe_merge, kept between calls so encoding a long text in many
// segments does not reallocate for each one.
struct BpeScratch {
  struct Symbol {
    int32_t id;    // -1 once merged into its left neighbour
    int32_t prev;  // index of the previous live symbol, -1 at the start
    int32_t next;  // index of the next live symbol, -1 at the end
  };
  std::vector<Symbol> symbols;
  // Min-heap of candidate merges packed as (rank << 32 | left symbol index): one integer
  // compare orders by rank, then leftmost. Small entries keep long runs cache-friendly.
  std::vector<uint64_t> heap;
};

// Merges `symbol_ids` (initial per-character / byte symbols) and appends the resulting
// ids to `out`. O(n log n) in the number of symbols, whatever the input.
void bpe_merge(const std::vector<int32_t>& symbol_ids, const MergeTable& merges, BpeScratch& scratch,
               std::vector<int32_t>& out);

}  // namespace facet
