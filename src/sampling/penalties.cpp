#include "sampling/penalties.h"

#include <algorithm>
#include <vector>

namespace facet {

namespace {

bool has_penalties(const SamplingOptions& o) {
  return o.repeat_last_n != 0 && (o.repeat_penalty != 1.0 || o.presence_penalty != 0.0 || o.frequency_penalty != 0.0);
}

}  // namespace

bool has_logit_adjustments(const SamplingOptions& o) { return has_penalties(o) || !o.logit_bias.empty(); }

void apply_penalties(const SamplingOptions& o, std::span<const int32_t> prompt, std::span<const int32_t> generated,
                     std::span<float> logits) {
  const int64_t n_logits = static_cast<int64_t>(logits.size());
  if (has_penalties(o)) {
    // The window's ids, sorted so that each distinct id is one run (its length = count).
    const size_t total = prompt.size() + generated.size();
    const size_t window = o.repeat_last_n < 0 ? total : std::min(total, static_cast<size_t>(o.repeat_last_n));
    std::vector<int32_t> ids;
    ids.reserve(window);
    const size_t from_generated = std::min(window, generated.size());
    ids.insert(ids.end(), generated.end() - static_cast<std::ptrdiff_t>(from_generated), generated.end());
    ids.insert(ids.end(), prompt.end() - static_cast<std::ptrdiff_t>(window - from_generated), prompt.end());
    std::sort(ids.begin(), ids.end());
    for (size_t i = 0; i < ids.size();) {
      size_t j = i;
      while (j < ids.size() && ids[j] == ids[i]) ++j;
      const int32_t id = ids[i];
      const double count = static_cast<double>(j - i);
      i = j;
      if (id < 0 || id >= n_logits) continue;
      float& logit = logits[static_cast<size_t>(id)];
      logit = logit > 0 ? static_cast<float>(logit / o.repeat_penalty) : static_cast<float>(logit * o.repeat_penalty);
      logit -= static_cast<float>(count * o.frequency_penalty + o.presence_penalty);
    }
  }
  for (const auto& [id, bias] : o.logit_bias)
    if (id >= 0 && id < n_logits) logits[static_cast<size_t>(id)] += bias;
}

}  // namespace facet
