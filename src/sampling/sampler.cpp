#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "util/error.h"

namespace facet {
namespace {

// Candidates are ordered by logit, higher first, and by id on ties (lower first): a strict
// total order for non-NaN logits, so "the k best" and "all, sorted" are unique lists and
// any algorithm that produces them picks the same token as any other.

// The k best ids, best first: the list std::partial_sort over all ids gives, found in one
// pass that keeps a heap of the k best so far and compares each later logit with the
// k-th best only. A later id loses every tie, so "better than the worst kept" is a strict
// `>` on the logit. Most blocks hold nothing above that threshold once the heap has
// warmed up; they are skipped after a branch-free count that the compiler vectorizes.
void top_k_ids(const float* logits, int64_t n, size_t k, std::vector<int32_t>& ids) {
  auto better = [logits](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  ids.resize(k);
  std::iota(ids.begin(), ids.end(), 0);
  std::make_heap(ids.begin(), ids.end(), better);  // front: the worst kept
  float threshold = logits[ids.front()];
  auto offer = [&](int64_t i) {
    if (!(logits[i] > threshold)) return;
    std::pop_heap(ids.begin(), ids.end(), better);
    ids.back() = static_cast<int32_t>(i);
    std::push_heap(ids.begin(), ids.end(), better);
    threshold = logits[ids.front()];
  };
  constexpr int64_t kBlock = 64;
  int64_t i = static_cast<int64_t>(k);
  for (; i + kBlock <= n; i += kBlock) {
    int above = 0;  // a count, not a bool: GCC vectorizes an int sum of compares, not an |=
    for (int64_t j = 0; j < kBlock; ++j) above += logits[i + j] > threshold;
    if (above == 0) continue;
    for (int64_t j = 0; j < kBlock; ++j) offer(i + j);
  }
  for (; i < n; ++i) offer(i);
  std::sort(ids.begin(), ids.end(), better);
}

// All ids sorted in the same order (what std::sort with that order gives), by a stable
// least-significant-digit radix sort on a key that orders floats as integers: linear in n
// instead of n log n comparisons through the id indirection. Ids start in increasing
// order and every pass is stable, so equal logits keep the lower id first.
void all_ids_sorted(const float* logits, int64_t n, std::vector<int32_t>& ids, std::vector<uint32_t>& keys,
                    std::vector<int32_t>& ids_tmp, std::vector<uint32_t>& keys_tmp) {
  const size_t count = static_cast<size_t>(n);
  ids.resize(count);
  keys.resize(count);
  ids_tmp.resize(count);
  keys_tmp.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const float v = logits[i] + 0.0f;  // -0 becomes +0: the two compare equal as floats
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    // Increasing float order as unsigned order, then inverted: sorting keys up sorts logits down.
    const uint32_t ascending = (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
    keys[i] = ~ascending;
    ids[i] = static_cast<int32_t>(i);
  }
  constexpr int kBits = 11, kBuckets = 1 << kBits;
  for (int shift = 0; shift < 32; shift += kBits) {
    size_t offsets[kBuckets] = {};
    for (uint32_t key : keys) ++offsets[(key >> shift) & (kBuckets - 1)];
    size_t total = 0;
    for (size_t& o : offsets) total += std::exchange(o, total);
    for (size_t i = 0; i < count; ++i) {
      const size_t to = offsets[(keys[i] >> shift) & (kBuckets - 1)]++;
      keys_tmp[to] = keys[i];
      ids_tmp[to] = ids[i];
    }
    keys.swap(keys_tmp);
    ids.swap(ids_tmp);
  }
}

bool has_nan(const float* logits, int64_t n) {
  // Counted in 32-bit ints per chunk, so that the loop vectorizes four lanes wide (see top_k_ids).
  constexpr int64_t kChunk = 1 << 20;
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    const int64_t end = std::min(n, begin + kChunk);
    int nans = 0;
    for (int64_t i = begin; i < end; ++i) nans += logits[i] != logits[i];
    if (nans != 0) return true;
  }
  return false;
}

}  // namespace

void validate(const SamplingOptions& o) {
  require(std::isfinite(o.temperature) && o.temperature >= 0, "temperature must be >= 0 (got ", o.temperature, ")");
  require(o.top_k >= 0, "top-k must be >= 0 (got ", o.top_k, ")");
  require(o.top_p > 0 && o.top_p <= 1, "top-p must be in (0, 1] (got ", o.top_p, ")");
  require(o.min_p >= 0 && o.min_p <= 1, "min-p must be in [0, 1] (got ", o.min_p, ")");
  require(std::isfinite(o.repeat_penalty) && o.repeat_penalty > 0, "repeat penalty must be > 0 (got ", o.repeat_penalty,
          ")");
  require(o.repeat_last_n >= -1, "repeat-last-n must be >= -1 (got ", o.repeat_last_n, ")");
  require(std::isfinite(o.presence_penalty) && std::isfinite(o.frequency_penalty),
          "presence and frequency penalties must be finite numbers");
  for (const auto& [id, bias] : o.logit_bias) {
    require(id >= 0, "logit bias for a negative token id (", id, ")");
    require(!std::isnan(bias), "logit bias for token ", id, " is NaN");
  }
}

Sampler::Sampler(SamplingOptions options) : options_(options), rng_(options.seed) { validate(options_); }

int32_t argmax(const float* values, int64_t n) {
  // std::max_element's pick (the first of the largest; a NaN never wins, unless it comes
  // first), but blocks with nothing above the best so far are passed over after a
  // vectorized count instead of a compare-and-branch per logit.
  if (n <= 0) return 0;  // as max_element on an empty range
  int64_t best = 0;
  float best_value = values[0];
  auto offer = [&](int64_t i) {
    if (best_value < values[i]) best = i, best_value = values[i];
  };
  constexpr int64_t kBlock = 64;
  int64_t i = 1;
  for (; i + kBlock <= n; i += kBlock) {
    int above = 0;
    for (int64_t j = 0; j < kBlock; ++j) above += values[i + j] > best_value;
    if (above == 0) continue;
    for (int64_t j = 0; j < kBlock; ++j) offer(i + j);
  }
  for (; i < n; ++i) offer(i);
  return static_cast<int32_t>(best);
}

int32_t Sampler::sample(const float* logits, int64_t n) {
  require(n > 0, "no logits to sample from");
  if (options_.temperature <= 0 || options_.top_k == 1) return argmax(logits, n);
  candidates(logits, n);
  std::discrete_distribution<size_t> pick(weights_.begin(), weights_.end());
  return ids_[pick(rng_)];
}

int32_t Sampler::accept_or_resample(const float* logits, int64_t n, int32_t draft) {
  require(n > 0, "no logits to sample from");
  if (options_.temperature <= 0 || options_.top_k == 1) return argmax(logits, n);
  candidates(logits, n);
  double total = 0, draft_weight = 0;
  size_t draft_at = ids_.size();
  for (size_t i = 0; i < ids_.size(); ++i) {
    total += weights_[i];
    if (ids_[i] == draft) draft_weight = weights_[i], draft_at = i;
  }
  // Keep the draft with the probability sample() would give it ...
  if (std::uniform_real_distribution<double>(0.0, 1.0)(rng_) * total < draft_weight) return draft;
  // ... else draw from the others: P(x) = (1 - p(draft)) * p(x) / (1 - p(draft)) = p(x).
  if (draft_at < ids_.size()) weights_[draft_at] = 0;
  std::discrete_distribution<size_t> pick(weights_.begin(), weights_.end());
  return ids_[pick(rng_)];
}

void Sampler::candidates(const float* logits, int64_t n) {
  require(!has_nan(logits, n), "the logits contain NaN");
  // Candidates sorted by logit, best first; top-k trims the list before sorting all of it.
  std::vector<int32_t>& ids = ids_;
  if (options_.top_k > 0 && options_.top_k < n) top_k_ids(logits, n, static_cast<size_t>(options_.top_k), ids);
  else all_ids_sorted(logits, n, ids, keys_, ids_tmp_, keys_tmp_);

  // Probabilities of the untempered distribution, for top-p and min-p only.
  const double max_logit = logits[ids[0]];
  if (options_.top_p < 1.0 || options_.min_p > 0) {
    std::vector<double>& p = probabilities_;
    p.resize(ids.size());
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
  }

  // Temperature: the weights the caller draws from.
  std::vector<double>& weights = weights_;
  weights.resize(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    weights[i] = std::exp((static_cast<double>(logits[ids[i]]) - max_logit) / options_.temperature);
}

}  // namespace facet
