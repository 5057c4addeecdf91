// Attention half of a decoder layer (spec §4.4, §4.5, §5):
//   a = post_attn_norm(Attention(attn_norm(x)));  x += a
// Q/K get their learned RMSNorm and RoPE; V gets the weightless RMSNorm; on K=V layers
// V is the raw K projection; KV-shared layers read their source layer's K/V.
#include <algorithm>
#include <cmath>

#include "kernels/attention_spans.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "model/forward_context.h"
#include "tensor/convert.h"

namespace facet {
namespace {

// Encodes `n` rows of `row` values in the cache type into `stored` and, for lossy types,
// replaces the rows by their decoded values.
void store_rows(DType type, std::vector<float>& rows, int64_t n, int64_t row, std::vector<uint8_t>& stored,
                ThreadPool& pool) {
  const size_t row_bytes = dtype_row_bytes(type, row);
  stored.resize(static_cast<size_t>(n) * row_bytes);
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* r = &rows[static_cast<size_t>(t * row)];
      uint8_t* s = &stored[static_cast<size_t>(t) * row_bytes];
      row_from_f32(type, r, s, row);
      if (type != DType::F32) row_to_f32(type, s, r, row);
    }
  }, 16);
}

// Segments with more tokens than this decode their window to f32 once per layer, for all
// their tokens; smaller ones (generation, a speculative check pass) have each attention job
// convert the rows it reads a chunk at a time (attention_spans.h), which writes no
// window-sized copy. Both give the same bits.
constexpr int64_t kDecodeWindowOnceTokens = 16;

// f32 K and V of a sequence's cached positions [lo, hi) of one layer, contiguous; for a
// cache not stored as f32 (decoded once per layer and step, then read by every head).
struct DecodedRows {
  const KvCache::Layer* layer = nullptr;
  int64_t lo = 0, hi = 0;
  std::vector<float> k, v;
};
// Decodes every sequence's rows in one parallel loop over all their positions (one loop
// per sequence would pay the threads' wake-up once per sequence and layer).
void decode_rows(std::vector<DecodedRows>& all, const KvCacheTypes& types, ThreadPool& pool) {
  std::vector<int64_t> starts;  // index of each sequence's first position in the joint loop
  int64_t total = 0;
  for (DecodedRows& d : all) {
    starts.push_back(total);
    total += d.hi - d.lo;
    d.k.resize(static_cast<size_t>((d.hi - d.lo) * d.layer->row));
    d.v.resize(d.k.size());
  }
  pool.parallel_for(total, [&](int64_t begin, int64_t end) {
    size_t s = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), begin) - starts.begin() - 1);
    for (int64_t j = begin; j < end; ++j) {
      while (s + 1 < starts.size() && j >= starts[s + 1]) ++s;
      DecodedRows& d = all[s];
      const int64_t i = j - starts[s], row = d.layer->row;
      const int64_t slot = KvCache::slot(*d.layer, d.lo + i);
      row_to_f32(types.k, d.layer->k_row(slot), &d.k[static_cast<size_t>(i * row)], row);
      row_to_f32(types.v, d.layer->v_row(slot), &d.v[static_cast<size_t>(i * row)], row);
    }
  }, 16);
}

}  // namespace

void attention_block(ForwardContext& ctx, int layer, std::vector<float>& x) {
  const ModelConfig& c = ctx.model.config;
  const LayerConfig& lc = c.layers[static_cast<size_t>(layer)];
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const int64_t n = ctx.n_tokens, H = c.hidden_size, D = lc.head_dim;
  const int n_heads = c.n_heads, n_kv = lc.n_kv_heads;
  const int64_t q_row = n_heads * D, kv_row = n_kv * D;
  const RopeAngles& rope = ctx.rope(lc.kind);

  std::vector<float> a(static_cast<size_t>(n * H));
  ctx.pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      rms_norm(&x[static_cast<size_t>(t * H)], w.attn_norm.data(), H, c.rms_eps, &a[static_cast<size_t>(t * H)]);
  }, kTokensPerChunk);

  std::vector<float> q(static_cast<size_t>(n * q_row));
  if (lc.owns_kv) {  // q, k and v (K=V: q and k) in one parallel loop over the shared input
    std::vector<float>& k = ctx.batch_k[static_cast<size_t>(layer)];
    std::vector<float>& v = ctx.batch_v[static_cast<size_t>(layer)];
    k.resize(static_cast<size_t>(n * kv_row));
    v.resize(static_cast<size_t>(n * kv_row));
    const MatmulOutput products[3] = {{&w.q, q.data()}, {&w.k, k.data()}, {&w.v, v.data()}};
    matmul_same_input(std::span<const MatmulOutput>(products, lc.k_eq_v ? 2 : 3), a.data(), n, &ctx.pool);
  } else {
    matmul(w.q, a.data(), n, q.data(), &ctx.pool);
  }
  ctx.pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* qt = &q[static_cast<size_t>(t * q_row)];
      for (int h = 0; h < n_heads; ++h) rms_norm(qt + h * D, w.q_norm.data(), D, c.rms_eps, qt + h * D);
      apply_rope(qt, n_heads, rope, t);
    }
  }, kTokensPerChunk);

  if (lc.owns_kv) {
    std::vector<float>& k = ctx.batch_k[static_cast<size_t>(layer)];
    std::vector<float>& v = ctx.batch_v[static_cast<size_t>(layer)];
    if (lc.k_eq_v) v = k;  // raw K projection, before k_norm and RoPE (pitfall 4)
    ctx.pool.parallel_for(n, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        float* kt = &k[static_cast<size_t>(t * kv_row)];
        float* vt = &v[static_cast<size_t>(t * kv_row)];
        for (int h = 0; h < n_kv; ++h) {
          rms_norm(kt + h * D, w.k_norm.data(), D, c.rms_eps, kt + h * D);
          rms_norm(vt + h * D, nullptr, D, c.rms_eps, vt + h * D);
        }
        apply_rope(kt, n_kv, rope, t);
      }
    }, kTokensPerChunk);
    store_rows(ctx.types.k, k, n, kv_row, ctx.stored_k[static_cast<size_t>(layer)], ctx.pool);
    store_rows(ctx.types.v, v, n, kv_row, ctx.stored_v[static_cast<size_t>(layer)], ctx.pool);
  }

  // Keys visible to token t: its window in its own sequence's cache (earlier batches) and
  // in its sequence's rows of this batch.
  const int src = lc.kv_source;
  const std::vector<float>& batch_k = ctx.batch_k[static_cast<size_t>(src)];
  const std::vector<float>& batch_v = ctx.batch_v[static_cast<size_t>(src)];
  const int group = n_heads / n_kv;  // consecutive query heads share a KV head
  const bool f32_cache = ctx.types.k == DType::F32 && ctx.types.v == DType::F32;
  std::vector<DecodedRows> decoded;
  std::vector<int> decoded_index(ctx.segments.size(), -1);  // per segment: its entry in `decoded`
  for (size_t i = 0; i < ctx.segments.size() && !f32_cache; ++i) {
    const BatchSegment& seg = ctx.segments[i];
    if (seg.count <= kDecodeWindowOnceTokens) continue;
    // The first token of a sequence looks furthest back.
    const int64_t p0 = seg.first_position;
    DecodedRows d;
    d.layer = &seg.cache->layer(src);
    d.lo = lc.kind == LayerKind::Sliding ? std::max<int64_t>(0, p0 - c.sliding_window + 1) : 0;
    d.hi = p0;
    decoded_index[i] = static_cast<int>(decoded.size());
    decoded.push_back(std::move(d));
  }
  if (!decoded.empty()) decode_rows(decoded, ctx.types, ctx.pool);

  // Where token t's window starts: a position (causal, and within the window on sliding
  // layers), or anywhere in the token's own image block (the block is in this batch, so it
  // only moves the ends within the batch rows; ctx.block_last gives the last batch row seen).
  auto first_position_of = [&](int64_t t) {
    const BatchSegment& seg = ctx.segments[static_cast<size_t>(ctx.segment_of[static_cast<size_t>(t)])];
    const int64_t pos = seg.first_position + (t - seg.begin);
    const int64_t block_first_pos = seg.first_position + (ctx.block_first[static_cast<size_t>(t)] - seg.begin);
    return std::min(block_first_pos,
                    lc.kind == LayerKind::Sliding ? std::max<int64_t>(0, pos - c.sliding_window + 1) : 0);
  };
  // Rows of a sequence from position `first` (cached, or in this batch) to batch row `last`,
  // in position order, as up to three spans.
  struct Rows {
    KvRowSpan spans[3];
    int n_spans = 0;
    std::span<const KvRowSpan> view() const { return {spans, static_cast<size_t>(n_spans)}; }
  };
  auto rows_from = [&](size_t seg_index, int64_t first, int64_t last) {
    Rows rows;
    const BatchSegment& seg = ctx.segments[seg_index];
    const KvCache::Layer& cached = seg.cache->layer(src);
    const int64_t p0 = seg.first_position;
    if (decoded_index[seg_index] >= 0) {
      const DecodedRows& d = decoded[static_cast<size_t>(decoded_index[seg_index])];
      if (first < p0)
        rows.spans[rows.n_spans++] = f32_row_span(&d.k[static_cast<size_t>((first - d.lo) * kv_row)],
                                                  &d.v[static_cast<size_t>((first - d.lo) * kv_row)], p0 - first,
                                                  kv_row);
    } else {
      // Cached positions [first, p0) as stored: contiguous, or split in two where a ring wraps.
      for (int64_t p = first; p < p0;) {
        const int64_t slot = KvCache::slot(cached, p);
        const int64_t run = std::min(p0 - p, cached.capacity - slot);
        rows.spans[rows.n_spans++] = {cached.k_row(slot), cached.v_row(slot), run, cached.k_row_bytes,
                                      cached.v_row_bytes, ctx.types.k, ctx.types.v, cached.row};
        p += run;
      }
    }
    const int64_t batch_first = seg.begin + (std::max(first, p0) - p0);  // a row of this batch
    rows.spans[rows.n_spans++] = f32_row_span(&batch_k[static_cast<size_t>(batch_first * kv_row)],
                                              &batch_v[static_cast<size_t>(batch_first * kv_row)],
                                              last - batch_first + 1, kv_row);
    return rows;
  };

  // Jobs. Prompt chunks (segments of more than kDecodeWindowOnceTokens tokens): blocks of
  // kTokensPerBlock tokens and one KV head, which read each K/V row once for the block
  // (attend_token_block; one token at a time read a 2,048-position window's f32 copy once
  // per token). Generation and check passes: one token and up to kHeadsPerJob query heads
  // of one KV head, so that one token still has several jobs to share out. (Sharing one
  // token's rows out between threads instead, row pieces for the scores and column pieces
  // for the weighted sum, was measured slower at 2,048 positions: more thread meetings and
  // a softmax step between them.) Every path gives each token the same bits.
  constexpr int kTokensPerBlock = 8, kHeadsPerJob = 4;
  struct Job {
    int64_t t0;
    int n_tokens, kv_head, h, n_q;
  };
  std::vector<Job> jobs;
  std::vector<Rows> segment_rows(ctx.segments.size());  // blocks read their segment's rows
  std::vector<int64_t> segment_first(ctx.segments.size());
  for (size_t i = 0; i < ctx.segments.size(); ++i) {
    const BatchSegment& seg = ctx.segments[i];
    if (seg.count > kDecodeWindowOnceTokens) {
      int64_t first = first_position_of(seg.begin);
      for (int64_t t = seg.begin + 1; t < seg.begin + seg.count; ++t) first = std::min(first, first_position_of(t));
      segment_first[i] = first;
      segment_rows[i] = rows_from(i, first, seg.begin + seg.count - 1);
      for (int64_t t0 = seg.begin; t0 < seg.begin + seg.count; t0 += kTokensPerBlock)
        for (int g = 0; g < n_kv; ++g)
          jobs.push_back({t0, static_cast<int>(std::min<int64_t>(kTokensPerBlock, seg.begin + seg.count - t0)), g,
                          g * group, group});
    } else {
      for (int64_t t = seg.begin; t < seg.begin + seg.count; ++t)
        for (int g = 0; g < n_kv; ++g)
          for (int h = 0; h < group; h += kHeadsPerJob)
            jobs.push_back({t, 1, g, g * group + h, std::min(kHeadsPerJob, group - h)});
    }
  }

  std::vector<float> attn(static_cast<size_t>(n * q_row));
  ctx.pool.parallel_for(static_cast<int64_t>(jobs.size()), [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    for (int64_t i = begin; i < end; ++i) {
      const Job& job = jobs[static_cast<size_t>(i)];
      const size_t seg_index = static_cast<size_t>(ctx.segment_of[static_cast<size_t>(job.t0)]);
      const BatchSegment& seg = ctx.segments[seg_index];
      const size_t at = static_cast<size_t>(job.t0 * q_row + job.h * D);
      if (seg.count > kDecodeWindowOnceTokens) {
        // Each token's window as rows of the segment's: index = position - segment_first.
        int64_t window_first[kTokensPerBlock], window_end[kTokensPerBlock];
        for (int b = 0; b < job.n_tokens; ++b) {
          const int64_t t = job.t0 + b;
          window_first[b] = first_position_of(t) - segment_first[seg_index];
          window_end[b] = seg.first_position + (ctx.block_last[static_cast<size_t>(t)] - seg.begin) + 1 -
                          segment_first[seg_index];
        }
        attend_token_block(&q[at], q_row, job.n_tokens, job.n_q, segment_rows[seg_index].view(), window_first,
                           window_end, job.kv_head * D, D, &attn[at], q_row);
      } else {
        const Rows rows = rows_from(seg_index, first_position_of(job.t0), ctx.block_last[static_cast<size_t>(job.t0)]);
        attend_spans(&q[at], job.n_q, rows.view(), job.kv_head * D, D, scores, &attn[at]);
      }
    }
  }, 1);

  std::vector<float> out(static_cast<size_t>(n * H));
  matmul(w.o, attn.data(), n, out.data(), &ctx.pool);
  add_normed_residual(ctx, out, w.post_attn_norm, x);
}

}  // namespace facet
