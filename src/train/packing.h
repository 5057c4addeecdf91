// Sequence packing for SFT (`facet finetune --packing`, TRL's `packing=True`; finetune
// spec §5.3): several short examples share one training sequence of at most max_seq_len
// tokens, so a step runs fewer, fuller sequences. Packing is padding-free and exact: the
// training pass (PassOptions::segments) keeps every example to itself (block-diagonal
// causal attention, sliding windows inside the example, RoPE positions from 0), so an
// example's loss and gradient are the same packed or alone.
//
// Strategy: first-fit in a seeded shuffled order. The examples are shuffled once (seed),
// then each goes into the first sequence that still has room for it, else opens a new
// one. Shuffling first mixes rows from across the file into each sequence (neighbouring
// lines are often near-duplicates); first-fit keeps sequences nearly full without the
// length sorting of TRL's best-fit-decreasing, which would put all long examples together.
// The packed sequences are fixed for the run; the trainer shuffles them per epoch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/dataset.h"

namespace facet::train {

struct PackReport {
  int64_t examples = 0;   // examples in
  int64_t sequences = 0;  // packed sequences out
  int64_t tokens = 0;     // tokens in all sequences
  int64_t capacity = 0;   // max_seq_len
  // "packed 120 examples into 9 sequences of at most 512 tokens (94% full)"
  std::string summary() const;
};

// Packs `examples` (each already at most max_seq_len tokens, as load_sft_data leaves
// them; a longer one is an error) into sequences of at most max_seq_len tokens. Every
// example appears exactly once, whole, with its loss mask; SftExample::segments records
// the boundaries.
std::vector<SftExample> pack_sft_examples(std::vector<SftExample> examples, int64_t max_seq_len, uint64_t seed,
                                          PackReport* report = nullptr);

}  // namespace facet::train
