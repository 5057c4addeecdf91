// Log-probabilities of a step's tokens for the APIs' `logprobs` / `top_logprobs`: the
// log-softmax of the logits the sampler sees (after logit bias, penalties and any
// constraint; before temperature and the top-k / top-p / min-p filters), i.e. the model's
// adjusted distribution at temperature 1. Masked (-inf) tokens have no probability.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace facet {

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;                           // of `id`
  std::vector<std::pair<int32_t, float>> top;  // the `top_n` most likely (id, logprob), best first, lower id on ties
};

constexpr int kMaxTopLogprobs = 20;  // OpenAI's limit

// `chosen`'s log-probability and the top_n (0..kMaxTopLogprobs) best alternatives.
TokenLogprob token_logprob(std::span<const float> logits, int32_t chosen, int top_n);

}  // namespace facet
