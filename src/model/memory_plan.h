// How much memory running a model takes besides its (memory-mapped) weights: the KV cache
// and the transient activations of one forward micro-batch. `facet info` prints the plan;
// peak RSS while generating should be about weights touched + KV cache + this overhead.
#pragma once

#include <cstdint>

#include "model/model_config.h"

namespace facet {

struct ComputeEstimate {
  uint64_t activations = 0;  // largest set of f32 buffers alive at once in one micro-batch
  uint64_t logits = 0;       // the output row(s) of the last token
  uint64_t total() const { return activations + logits; }
};

// An upper-bound estimate (not a measurement) of forward()'s transient buffers for a
// micro-batch of `batch` tokens attending to up to `context` positions on `threads`
// threads: the residual stream and block outputs, Q and attention output, the batch's K/V
// kept for KV-sharing layers, the MLP's gate/up, the per-layer embeddings, attention scores
// per thread, and 8-bit copies of the activations for the quantized kernels.
ComputeEstimate estimate_compute(const ModelConfig& config, int64_t batch, int64_t context, int threads);

}  // namespace facet
