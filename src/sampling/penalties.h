// Repetition penalties and logit bias (SamplingOptions' second half), applied to a step's
// logits before the sampler's filters, as llama.cpp's penalties sampler does:
//   for each distinct token in the window (the last repeat_last_n tokens of prompt + answer,
//   occurring c times): logit = logit > 0 ? logit / repeat_penalty : logit * repeat_penalty,
//   then logit -= c * frequency_penalty + presence_penalty;
// then each logit_bias entry is added to its token's logit.
#pragma once

#include <cstdint>
#include <span>

#include "sampling/sampler.h"

namespace facet {

// Whether apply_penalties can change anything (the common case is no: skip the work).
bool has_logit_adjustments(const SamplingOptions& options);

// `prompt` then `generated` is the sequence so far; ids outside the logits are ignored.
void apply_penalties(const SamplingOptions& options, std::span<const int32_t> prompt,
                     std::span<const int32_t> generated, std::span<float> logits);

}  // namespace facet
