// Attention of the query heads that share one KV head over cached key/value rows in the
// form the KV cache stores them (f32, f16, bf16, q8_0, q4_0), in runs ("spans") of
// consecutive rows: the decoder's layers and the drafter both attend this way.
//
// Rows that are not f32 are converted a few at a time into a small per-thread buffer that
// stays in L2, then taken by the same kernels as f32 rows (attention_rows.h). Converting
// is exact for f16 and bf16 and deterministic for the block types, and every score and
// output element gets the same operations in the same order either way, so the results
// are bit-identical to converting the whole window first; but no window-sized copy is
// written and read back (at 2,116 positions the E2B-shaped model spent about a quarter of
// each generation step writing, zeroing and re-reading such copies).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tensor/dtype.h"

namespace facet {

// `count` consecutive positions' K and V rows: row i of K at k + i * k_stride bytes, of
// `k_type` values (V likewise).
struct KvRowSpan {
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  int64_t count = 0;
  size_t k_stride = 0, v_stride = 0;
  DType k_type = DType::F32, v_type = DType::F32;
  int64_t row_length = 0;  // values per row (all KV heads): needed for block types only
};

// Rows of f32 values, `stride` floats apart (the rows may be longer than that: strided).
KvRowSpan f32_row_span(const float* k, const float* v, int64_t count, int64_t stride);

// out[h * D + d] (h < n_q, d < D) = sum over the spans' rows i, in order, of
// softmax_i(q_h . K_i[offset, offset + D)) * V_i[offset + d], scale 1.0 (Gemma 4: the
// q/k norms set the scale). q holds the heads' queries D apart. `scores` is scratch.
void attend_spans(const float* q, int n_q, std::span<const KvRowSpan> spans, int64_t offset, int64_t D,
                  std::vector<float>& scores, float* out);

// attend_spans for a block of tokens whose windows are ranges of the same rows: token t's
// n_q queries (q + t * q_token_stride, D apart) attend over rows [window_first[t],
// window_end[t]) of `rows` (row indices over all spans in order; non-empty ranges), and its
// output goes to out + t * out_token_stride (n_q × D). Each K and V row is read once for the
// whole block instead of once per token (a prompt after a long context read the window's
// f32 copy once per token), and every score and output element gets attend_spans'
// operations in its order: the same bits.
void attend_token_block(const float* q, int64_t q_token_stride, int n_tokens, int n_q,
                        std::span<const KvRowSpan> rows, const int64_t* window_first, const int64_t* window_end,
                        int64_t offset, int64_t D, float* out, int64_t out_token_stride);

}  // namespace facet
