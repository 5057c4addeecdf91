#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/error.h"

namespace facet {

void validate(const SamplingOptions& o) {
  require(std::isfinite(o.temperature) && o.temperature >= 0, "temperature must be >= 0 (got ", o.temperature, ")");
  require(o.top_k >= 0, "top-k must be >= 0 (got ", o.top_k, ")");
  require(o.top_p > 0 && o.top_p <= 1, "top-p must be in (0, 1] (got ", o.top_p, ")");
  require(o.min_p >= 0 && o.min_p <= 1, "min-p must be in [0, 1] (got ", o.min_p, ")");
}

Sampler::Sampler(SamplingOptions options) : options_(options), rng_(options.seed) { validate(options_); }

int32_t argmax(const float* values, int64_t n) {
  return static_cast<int32_t>(std::max_element(values, values + n) - values);
}

int32_t Sampler::sample(const float* logits, int64_t n) {
  require(n > 0, "no logits to sample from");
  if (options_.temperature <= 0 || options_.top_k == 1) return argmax(logits, n);

  // Candidates sorted by logit, best first; top-k trims the list before sorting all of it.
  std::vector<int32_t> ids(static_cast<size_t>(n));
  std::iota(ids.begin(), ids.end(), 0);
  auto better = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  size_t keep = ids.size();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < keep) {
    keep = static_cast<size_t>(options_.top_k);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<long>(keep), ids.end(), better);
    ids.resize(keep);
  } else {
    std::sort(ids.begin(), ids.end(), better);
  }

  // Probabilities of the untempered distribution for top-p and min-p.
  const double max_logit = logits[ids[0]];
  std::vector<double> p(ids.size());
  double sum = 0;
  for (size_t i = 0; i < ids.size(); ++i) sum += p[i] = std::exp(static_cast<double>(logits[ids[i]]) - max_logit);
  for (double& v : p) v /= sum;
  if (options_.top_p < 1.0) {
    double cumulative = 0;
    size_t cut = ids.size();
    for (size_t i = 0; i < ids.size(); ++i) {
      cumulative += p[i];
      if (cumulative >= options_.top_p) {
        cut = i + 1;
        break;
      }
    }
    ids.resize(cut);
  }
  if (options_.min_p > 0) {
    size_t cut = 1;
    while (cut < ids.size() && p[cut] >= options_.min_p * p[0]) ++cut;
    ids.resize(std::min(ids.size(), cut));
  }

  // Temperature, then draw.
  std::vector<double> weights(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    weights[i] = std::exp((static_cast<double>(logits[ids[i]]) - max_logit) / options_.temperature);
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  return ids[pick(rng_)];
}

}  // namespace facet
