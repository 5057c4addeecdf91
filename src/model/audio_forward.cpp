// The audio tower's forward pass (spec §9.2), f32 activations: subsampling convolutions,
// the conformer layers, the output Linear and embed_audio.
//
// Attention: HF splits the frames into blocks of 12 queries, each looking at a context of
// the 12 frames before the block plus the block, and masks every key but the query itself
// and the 11 frames before it (distance 0..11; llama.cpp masks the same). All those keys
// always lie inside the block's context, so the blocks change nothing: this is a plain
// causal sliding window of attention_window() keys. The relative bias of distance d uses
// row (window - d) of the position table, whose rows hold distances window, ..., 0.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "model/audio.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

std::vector<float> linear(const WeightMatrix& w, const std::vector<float>& x, int64_t n, ThreadPool& pool) {
  std::vector<float> y(static_cast<size_t>(n * w.rows));
  matmul(w, x.data(), n, y.data(), &pool);
  return y;
}

// HF's gradient clipping: clamp(x, ±min(gradient_clipping, the dtype's max)); in f32 a
// no-op for any sane activation, kept for fidelity.
void clip(std::vector<float>& x, const AudioConfig& c) {
  const float g = static_cast<float>(std::min(c.gradient_clipping, static_cast<double>(FLT_MAX)));
  for (float& v : x) v = std::clamp(v, -g, g);
}

std::vector<float> normed_rows(const std::vector<float>& x, const std::vector<float>& weight, int64_t n, int64_t width,
                               double eps) {
  std::vector<float> out(x.size());
  for (int64_t t = 0; t < n; ++t)
    rms_norm(x.data() + t * width, weight.empty() ? nullptr : weight.data(), width, eps, out.data() + t * width);
  return out;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

// A 3x3 convolution with stride 2 and padding 1 over a [rows, cols, ch_in] grid (channel
// fastest; rows = time, cols = frequency), without bias, then a LayerNorm over the output
// channels (mean and variance, weight, no bias) and ReLU. Returns [rows_out, cols_out, ch_out].
std::vector<float> subsample(const std::vector<float>& in, int64_t rows, int64_t cols, int64_t ch_in,
                             const std::vector<float>& kernel, const std::vector<float>& norm, double eps,
                             ThreadPool& pool, int64_t& rows_out, int64_t& cols_out) {
  const int64_t ch_out = static_cast<int64_t>(norm.size()), patch = ch_in * 9;
  rows_out = (rows + 1) / 2;
  cols_out = (cols + 1) / 2;
  std::vector<float> out(static_cast<size_t>(rows_out * cols_out * ch_out));
  const WeightMatrix w = f32_matrix(kernel, ch_out, patch);
  // Patches of a block of output rows (bounded to a few MB), columns ordered as the kernel:
  // (input channel, kernel row, kernel column).
  const int64_t block = std::max<int64_t>(1, (int64_t{1} << 20) / (cols_out * patch));
  std::vector<float> patches;
  for (int64_t first = 0; first < rows_out; first += block) {
    const int64_t count = std::min(block, rows_out - first);
    patches.assign(static_cast<size_t>(count * cols_out * patch), 0.0f);
    pool.parallel_for(count * cols_out, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const int64_t r = first + p / cols_out, col = p % cols_out;
        float* dst = patches.data() + p * patch;
        for (int64_t kr = 0; kr < 3; ++kr) {
          const int64_t sr = 2 * r - 1 + kr;
          if (sr < 0 || sr >= rows) continue;
          for (int64_t kc = 0; kc < 3; ++kc) {
            const int64_t sc = 2 * col - 1 + kc;
            if (sc < 0 || sc >= cols) continue;
            const float* src = in.data() + (sr * cols + sc) * ch_in;
            for (int64_t ci = 0; ci < ch_in; ++ci) dst[ci * 9 + kr * 3 + kc] = src[ci];
          }
        }
      }
    });
    matmul(w, patches.data(), count * cols_out, out.data() + first * cols_out * ch_out, &pool);
  }
  pool.parallel_for(rows_out * cols_out, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      float* v = out.data() + p * ch_out;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < ch_out; ++i) mean += v[i];
      mean /= static_cast<double>(ch_out);
      for (int64_t i = 0; i < ch_out; ++i) var += (v[i] - mean) * (v[i] - mean);
      const double inv = 1.0 / std::sqrt(var / static_cast<double>(ch_out) + eps);
      for (int64_t i = 0; i < ch_out; ++i)
        v[i] = std::max(0.0f, static_cast<float>((v[i] - mean) * inv) * norm[static_cast<size_t>(i)]);
    }
  });
  return out;
}

// The sinusoidal table of relative positions window, ..., 0 (one row each): all sines of
// the hidden_size/2 timescales, then all cosines.
std::vector<float> position_table(const AudioConfig& c) {
  const int64_t rows = c.attention_window() + 1, half = c.hidden_size / 2;
  const double step = std::log(1.0e4) / static_cast<double>(std::max<int64_t>(half - 1, 1));
  std::vector<float> table(static_cast<size_t>(rows * c.hidden_size));
  for (int64_t r = 0; r < rows; ++r) {
    const double position = static_cast<double>(rows - 1 - r);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = position * std::exp(-static_cast<double>(i) * step);
      table[static_cast<size_t>(r * c.hidden_size + i)] = static_cast<float>(std::sin(angle));
      table[static_cast<size_t>(r * c.hidden_size + half + i)] = static_cast<float>(std::cos(angle));
    }
  }
  return table;
}

// x += residual_weight · post_norm(down(silu(up(pre_norm(x))))), with HF's clip points.
void half_step_ffn(const AudioConfig& c, const std::vector<float>& pre, const ClampedLinear& up,
                   const ClampedLinear& down, const std::vector<float>& post, std::vector<float>& x, int64_t n,
                   ThreadPool& pool) {
  const int64_t H = c.hidden_size;
  std::vector<float> h = x;
  clip(h, c);
  h = normed_rows(h, pre, n, H, c.rms_eps);
  std::vector<float> u = clamped_linear(up, h, n, pool);
  for (float& v : u) v = silu(v);
  h = clamped_linear(down, u, n, pool);
  clip(h, c);
  h = normed_rows(h, post, n, H, c.rms_eps);
  const float w = static_cast<float>(c.residual_weight);
  for (size_t i = 0; i < x.size(); ++i) x[i] += w * h[i];
}

// Causal local attention with the relative position bias and the logit soft cap. q, k, v:
// [n, H] from the clipped projections; relk: [window + 1, H]. Returns [n, H].
std::vector<float> local_attention(const AudioConfig& c, const AudioLayerWeights& l, std::vector<float>& q,
                                   std::vector<float>& k, const std::vector<float>& v, const std::vector<float>& relk,
                                   int64_t n, ThreadPool& pool) {
  const int64_t H = c.hidden_size, D = c.head_dim, window = c.attention_window();
  // Query: D^-1/2 / ln 2 · softplus(per_dim_scale) per head dimension; key: ln(1 + e) / ln 2.
  const double q_scale = 1.0 / std::sqrt(static_cast<double>(D)) / std::log(2.0);
  const float k_scale = static_cast<float>(std::log1p(std::exp(1.0)) / std::log(2.0));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < H; ++i) {
      q[static_cast<size_t>(t * H + i)] *= static_cast<float>(q_scale * l.per_dim_scale[static_cast<size_t>(i % D)]);
      k[static_cast<size_t>(t * H + i)] *= k_scale;
    }
  std::vector<float> out(static_cast<size_t>(n * H), 0.0f);
  pool.parallel_for(n, [&](int64_t b, int64_t e) {
    std::vector<float> logits(static_cast<size_t>(window));
    for (int64_t t = b; t < e; ++t) {
      const int64_t keys = std::min(window, t + 1);  // distances 0 .. keys-1
      for (int64_t head = 0; head < c.n_heads; ++head) {
        const float* qv = q.data() + t * H + head * D;
        for (int64_t d = 0; d < keys; ++d) {
          const float* kv = k.data() + (t - d) * H + head * D;
          const float* rv = relk.data() + (window - d) * H + head * D;
          float s = 0;
          for (int64_t i = 0; i < D; ++i) s += qv[i] * (kv[i] + rv[i]);
          logits[static_cast<size_t>(d)] = s;
        }
        soft_cap(logits.data(), keys, c.logit_cap);
        softmax(logits.data(), keys);
        float* o = out.data() + t * H + head * D;
        for (int64_t d = 0; d < keys; ++d) {
          const float p = logits[static_cast<size_t>(d)];
          const float* vv = v.data() + (t - d) * H + head * D;
          for (int64_t i = 0; i < D; ++i) o[i] += p * vv[i];
        }
      }
    }
  });
  return out;
}

void conformer_layer(const AudioConfig& c, const AudioLayerWeights& l, const std::vector<float>& positions,
                     std::vector<float>& x, int64_t n, ThreadPool& pool) {
  const int64_t H = c.hidden_size, K = c.conv_kernel;
  half_step_ffn(c, l.ffn1_pre, l.ffn1_up, l.ffn1_down, l.ffn1_post, x, n, pool);

  {  // Attention block.
    std::vector<float> h = x;
    clip(h, c);
    h = normed_rows(h, l.attn_pre, n, H, c.rms_eps);
    std::vector<float> q = clamped_linear(l.q, h, n, pool), k = clamped_linear(l.k, h, n, pool);
    const std::vector<float> v = clamped_linear(l.v, h, n, pool);
    const std::vector<float> relk = linear(l.relative_k, positions, c.attention_window() + 1, pool);
    h = clamped_linear(l.attn_out, local_attention(c, l, q, k, v, relk, n, pool), n, pool);
    clip(h, c);
    h = normed_rows(h, l.attn_post, n, H, c.rms_eps);
    for (size_t i = 0; i < x.size(); ++i) x[i] += h[i];
  }

  {  // Light conv module: norm, Linear to 2H, GLU, causal depthwise conv, norm, SiLU, Linear.
    const std::vector<float> start = clamped_linear(l.conv_start, normed_rows(x, l.conv_pre, n, H, c.rms_eps), n, pool);
    std::vector<float> glu(static_cast<size_t>(n * H));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < H; ++i) {
        const float value = start[static_cast<size_t>(t * 2 * H + i)], gate = start[static_cast<size_t>(t * 2 * H + H + i)];
        glu[static_cast<size_t>(t * H + i)] = value / (1.0f + std::exp(-gate));
      }
    std::vector<float> conv(glu.size(), 0.0f);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < K; ++j) {
        const int64_t src = t - (K - 1) + j;  // K - 1 zeros of left padding
        if (src < 0) continue;
        for (int64_t i = 0; i < H; ++i)
          conv[static_cast<size_t>(t * H + i)] +=
              l.depthwise[static_cast<size_t>(i * K + j)] * glu[static_cast<size_t>(src * H + i)];
      }
    clip(conv, c);
    std::vector<float> h = normed_rows(conv, l.conv_norm, n, H, c.rms_eps);
    for (float& e : h) e = silu(e);
    h = clamped_linear(l.conv_end, h, n, pool);
    for (size_t i = 0; i < x.size(); ++i) x[i] += h[i];
  }

  half_step_ffn(c, l.ffn2_pre, l.ffn2_up, l.ffn2_down, l.ffn2_post, x, n, pool);
  clip(x, c);
  x = normed_rows(x, l.out_norm, n, H, c.rms_eps);
}

}  // namespace

std::vector<float> encode_audio(const AudioTower& tower, const AudioFeatures& features, ThreadPool& pool) {
  const AudioConfig& c = tower.config;
  const AudioWeights& w = tower.weights;
  require(!tower.encoder_free, tower.path, ": the encoder-free audio embedder reads the waveform, not log-mel features");
  require(features.frames > 0, "audio features: the clip has no frames (too short for one 20 ms frame)");
  require(features.mel_bins == c.mel_bins, "audio features: ", features.mel_bins, " mel bins per frame, the tower expects ",
          c.mel_bins);
  require(static_cast<int64_t>(features.values.size()) == static_cast<int64_t>(features.frames) * features.mel_bins,
          "audio features: expected ", static_cast<int64_t>(features.frames) * features.mel_bins, " values for ",
          features.frames, " frames, found ", features.values.size());
  const int64_t frames = features.frames;
  const int64_t tokens = ((frames + 1) / 2 + 1) / 2;
  require(tokens == audio_soft_tokens(features.frames), "audio features: ", frames, " frames make ", tokens,
          " soft tokens, over the limit of ", audio_soft_tokens(features.frames), " (30 s); split the clip");

  int64_t rows0 = 0, cols0 = 0, rows1 = 0, cols1 = 0;
  const std::vector<float> s0 =
      subsample(features.values, frames, c.mel_bins, 1, w.conv0, w.conv0_norm, c.rms_eps, pool, rows0, cols0);
  const std::vector<float> s1 =
      subsample(s0, rows0, cols0, c.sscp_channels[0], w.conv1, w.conv1_norm, c.rms_eps, pool, rows1, cols1);
  // s1 is [time, frequency, channel]: each time row is already the (frequency, channel)
  // flattening with the channel fastest.
  std::vector<float> x = linear(w.input_proj, s1, rows1, pool);

  const std::vector<float> positions = position_table(c);
  for (const AudioLayerWeights& layer : w.layers) conformer_layer(c, layer, positions, x, rows1, pool);

  std::vector<float> y = linear(w.output_proj, x, rows1, pool);
  for (int64_t t = 0; t < rows1; ++t)
    for (int64_t i = 0; i < c.output_dims; ++i) y[static_cast<size_t>(t * c.output_dims + i)] += w.output_bias[static_cast<size_t>(i)];
  y = normed_rows(y, {}, rows1, c.output_dims, c.rms_eps);
  return linear(w.projection, y, rows1, pool);
}

}  // namespace facet
