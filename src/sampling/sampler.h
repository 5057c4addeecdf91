// Turns logits into the next token: greedy, or temperature sampling with top-k, top-p
// (nucleus) and min-p filters, seeded for reproducible runs. Filters apply in llama.cpp's
// order (top-k, top-p, min-p on the untempered distribution, then temperature).
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace facet {

struct SamplingOptions {
  double temperature = 0.0;  // <= 0: greedy (argmax)
  int top_k = 0;             // 0: off
  double top_p = 1.0;        // 1: off
  double min_p = 0.0;        // 0: off
  uint64_t seed = 0;
  // Logit adjustments made before the filters above (apply_penalties in penalties.h), with
  // llama.cpp's formulas over the last `repeat_last_n` tokens of prompt + answer:
  double repeat_penalty = 1.0;     // > 0, 1 = off: a positive logit is divided by it, a negative one multiplied
  int64_t repeat_last_n = 64;      // window; 0 = no penalties, -1 = the whole context
  double presence_penalty = 0.0;   // subtracted once from every token in the window
  double frequency_penalty = 0.0;  // subtracted once per occurrence in the window
  std::vector<std::pair<int32_t, float>> logit_bias = {};  // (id, added to its logit), OpenAI's logit_bias
};

class Sampler {
 public:
  explicit Sampler(SamplingOptions options);
  // Picks a token id from `n` logits. Throws Error on invalid options, and on NaN logits
  // when it draws (greedy returns max_element's pick).
  int32_t sample(const float* logits, int64_t n);
  // Speculative decoding's acceptance rule for a drafted token (a drafter's single guess):
  // keeps `draft` with the probability sample() gives it, otherwise draws from the rest of
  // that distribution renormalised. The token returned has exactly sample()'s distribution
  // (greedy: the argmax, which is the draft exactly when they agree).
  int32_t accept_or_resample(const float* logits, int64_t n, int32_t draft);
  const SamplingOptions& options() const { return options_; }

 private:
  // The filtered candidates (ids_) and their unnormalised tempered weights (weights_).
  void candidates(const float* logits, int64_t n);

  SamplingOptions options_;
  std::mt19937_64 rng_;
  // Scratch kept between calls: a server samples every step, and the vocabulary-sized
  // buffers would otherwise be fresh (page-faulting) allocations each time.
  std::vector<int32_t> ids_, ids_tmp_;
  std::vector<uint32_t> keys_, keys_tmp_;
  std::vector<double> probabilities_, weights_;
};

// Index of the largest value (the first on ties).
int32_t argmax(const float* values, int64_t n);

void validate(const SamplingOptions& options);

}  // namespace facet
