#include "sampling/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace facet {

TokenLogprob token_logprob(std::span<const float> logits, int32_t chosen, int top_n) {
  require(chosen >= 0 && static_cast<size_t>(chosen) < logits.size(), "logprob of token ", chosen,
          " outside the vocabulary");
  require(top_n >= 0 && top_n <= kMaxTopLogprobs, "top_logprobs must be in [0, ", kMaxTopLogprobs, "]");
  float max_logit = -std::numeric_limits<float>::infinity();
  for (float v : logits) max_logit = std::max(max_logit, v);
  // log-sum-exp in double: 262144 terms summed in float would lose the small ones.
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max_logit);
  const double log_norm = static_cast<double>(max_logit) + std::log(sum);
  auto logprob = [&](int32_t id) {
    return static_cast<float>(static_cast<double>(logits[static_cast<size_t>(id)]) - log_norm);
  };

  TokenLogprob out;
  out.id = chosen;
  out.logprob = logprob(chosen);
  // The top_n best by one pass that keeps them sorted (top_n is at most 20).
  auto better = [&](int32_t a, int32_t b) {
    return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] ||
           (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
  };
  std::vector<int32_t> best;
  best.reserve(static_cast<size_t>(top_n) + 1);
  for (size_t i = 0; i < logits.size() && top_n > 0; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    if (logits[i] == -std::numeric_limits<float>::infinity() || std::isnan(logits[i])) continue;
    if (static_cast<int>(best.size()) == top_n && !better(id, best.back())) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), id, better), id);
    if (static_cast<int>(best.size()) > top_n) best.pop_back();
  }
  for (int32_t id : best) out.top.emplace_back(id, logprob(id));
  return out;
}

}  // namespace facet
