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
  struct Candidate {
    int32_t rank;
    int32_t left;      // index of the left symbol; orders equal ranks left to right
    int32_t left_id;   // ids the pair had when queued: a candidate whose symbols have
    int32_t right_id;  // merged since is stale and is skipped
    int32_t result;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

// Merges `symbol_ids` (initial per-character / byte symbols) and appends the resulting
// ids to `out`. O(n log n) in the number of symbols, whatever the input.
void bpe_merge(const std::vector<int32_t>& symbol_ids, const MergeTable& merges, BpeScratch& scratch,
               std::vector<int32_t>& out);

}  // namespace facet
