// `facet bench MODEL --draft DRAFTER [--draft-max K] [--draft-acceptance R]`: generation
// speed with speculative decoding against the same generation without it.
//
// Both runs are whole greedy generations through the Generator (prompt of bench tokens,
// then -n tokens), timed over the decode only. With --draft-acceptance R the drafter still
// runs (its cost is paid) but its guesses are replaced by the true continuation, each
// token kept with probability R and otherwise changed: the speed at a chosen acceptance
// rate, for random-weight models whose own drafters never agree with them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/generation.h"

namespace facet::cli {

struct SpeculativeBenchResult {
  std::vector<double> plain_tokens_per_s, drafted_tokens_per_s;  // one per repetition
  int64_t drafted = 0, accepted = 0, forward_steps = 0, generated = 0;  // of the last drafted run
};

// `drafter` as --draft names it (a model path or "lookup"); `acceptance` in [0, 1] or unset.
SpeculativeBenchResult bench_speculative(const Model& model, const std::string& drafter, int draft_min, int draft_max,
                                         std::optional<double> acceptance, int64_t n_gen, int repetitions,
                                         int threads);

}  // namespace facet::cli
