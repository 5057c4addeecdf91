// The LoRA adapters' part of matmul(): y += scale · B (A x) for each attached adapter,
// computed as two small products (never forming B·A, which would be as big as W).
#include <vector>

#include "kernels/matmul.h"

namespace facet {

void add_lora_terms(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool) {
  std::vector<float> h, z;
  for (const LoraDelta* d = w.lora; d != nullptr; d = d->next) {
    // Scale 0 is "loaded but off" (llama.cpp's --lora-init-without-apply): exactly the base.
    if (d->scale == 0.0f || d->rank == 0) continue;
    const WeightMatrix a{DType::F32, reinterpret_cast<const uint8_t*>(d->a), d->rank, w.cols};
    const WeightMatrix b{DType::F32, reinterpret_cast<const uint8_t*>(d->b + w.lora_row_offset * d->rank), w.rows,
                         d->rank};
    h.resize(static_cast<size_t>(n_tokens * d->rank));
    z.resize(static_cast<size_t>(n_tokens * w.rows));
    matmul(a, x, n_tokens, h.data(), pool);
    matmul(b, h.data(), n_tokens, z.data(), pool);
    for (size_t i = 0; i < z.size(); ++i) y[i] += d->scale * z[i];
  }
}

}  // namespace facet
