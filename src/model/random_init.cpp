#include "model/random_init.h"

#include <algorithm>
#include <cmath>

#include "tensor/convert.h"
#include "util/error.h"

namespace facet {
namespace {

// splitmix64's output function: a strong 64-bit mixer, cheap enough for billions of calls.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint64_t element_bits(uint64_t key, int64_t index) {
  return mix64(key + static_cast<uint64_t>(index + 1) * 0x9E3779B97F4A7C15ull);
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::string t(suffix);
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// A 32-bit integer hash (Chris Wellons' "lowbias32" constants): unlike a 64-bit mixer it
// vectorises (8 lanes with AVX2), which makes generation several times faster.
inline uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// Two independent 32-bit hashes per element give the four 16-bit uniforms of one value.
[[gnu::target_clones("avx2", "default")]] void fill_normal_block(uint32_t key_a, uint32_t key_b, uint32_t first,
                                                                  int64_t count, float scale, float offset,
                                                                  float* out) {
  for (int64_t i = 0; i < count; ++i) {
    const uint32_t index = first + static_cast<uint32_t>(i);
    const uint32_t a = hash32(index + key_a), b = hash32(index ^ key_b);
    const uint32_t sum = (a & 0xffffu) + (a >> 16) + (b & 0xffffu) + (b >> 16);
    out[i] = static_cast<float>(static_cast<int32_t>(sum)) * scale + offset;
  }
}

InitRule normal(double mean, double stddev) { return {InitRule::Kind::Normal, mean, stddev}; }
InitRule uniform(double low, double high) { return {InitRule::Kind::Uniform, low, high}; }

}  // namespace

InitRule init_rule(const TensorSpec& spec, const ModelConfig& c) {
  const double fan_in = static_cast<double>(spec.shape.back());
  switch (spec.role) {
    case TensorRole::Embedding:
      return normal(0, 1 / std::sqrt(spec.gguf_name == "token_embd.weight" ? c.hidden_size : c.ple_dim));
    case TensorRole::Matrix:
    case TensorRole::ExpertMatrices:
      return normal(0, 1 / std::sqrt(fan_in));
    case TensorRole::Norm: {
      double mean = 1.0;
      if (ends_with(spec.gguf_name, "attn_q_norm.weight") || ends_with(spec.gguf_name, "attn_k_norm.weight"))
        mean = std::pow(fan_in, -0.25);  // keeps q·k of unit-RMS heads at a moderate scale
      else if (ends_with(spec.gguf_name, ".post_attention_norm.weight") ||
               ends_with(spec.gguf_name, ".post_ffw_norm.weight") || ends_with(spec.gguf_name, ".post_norm.weight"))
        mean = 0.1;  // these outputs are added to the residual stream
      return normal(mean, 0.1 * mean);
    }
    case TensorRole::LayerScalar: return uniform(0.9, 1.0);
    case TensorRole::RouterScale: return normal(1.0, 0.1);
    case TensorRole::ExpertScale: return uniform(0.5, 1.5);
    case TensorRole::RopeFreqs: break;
  }
  fail("init_rule: tensor ", spec.gguf_name, " has no random initialisation");
}

uint64_t tensor_key(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the name, then mixed with the seed
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001b3ull;
  return mix64(mix64(seed) ^ h);
}

void fill_random(const InitRule& rule, uint64_t key, int64_t first, int64_t count, float* out) {
  switch (rule.kind) {
    case InitRule::Kind::Normal: {
      // Irwin–Hall: the sum of four 16-bit uniforms has mean 2 and variance 1/3; centred and
      // scaled it is a close, bounded (±3.46σ) stand-in for a normal. With u_k = (x_k + 0.5)
      // / 2^16: value = mean + stddev·√3·(Σu_k − 2), one multiply-add on the sum Σx_k.
      const double sigma3 = rule.b * std::sqrt(3.0);
      const float scale = static_cast<float>(sigma3 / 65536.0);
      const float offset = static_cast<float>(rule.a + sigma3 * (2.0 / 65536.0 - 2.0));
      // Blocks of 2^32 elements get keys of their own, so the 32-bit hashes never repeat.
      while (count > 0) {
        const uint64_t block = static_cast<uint64_t>(first) >> 32;
        const uint32_t low = static_cast<uint32_t>(first);
        const int64_t n = std::min<int64_t>(count, (int64_t{1} << 32) - low);
        const uint64_t block_key = mix64(key ^ (block * 0xD1B54A32D192ED03ull));
        fill_normal_block(static_cast<uint32_t>(block_key), static_cast<uint32_t>(block_key >> 32), low, n, scale,
                          offset, out);
        first += n;
        count -= n;
        out += n;
      }
      return;
    }
    case InitRule::Kind::Uniform: {
      const double width = (rule.b - rule.a) / 16777216.0;
      for (int64_t i = 0; i < count; ++i) {
        const uint64_t top24 = element_bits(key, first + i) >> 40;
        out[i] = static_cast<float>(rule.a + (static_cast<double>(top24) + 0.5) * width);
      }
      return;
    }
    case InitRule::Kind::Constant:
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(rule.a);
      return;
  }
}

std::vector<float> random_tensor_values(const InitRule& rule, uint64_t key, const std::vector<int64_t>& shape,
                                        DType dtype) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  std::vector<float> values(static_cast<size_t>(numel));
  fill_random(rule, key, 0, numel, values.data());
  if (dtype != DType::F32) {
    std::vector<uint8_t> narrow(dtype_row_bytes(dtype, numel));
    row_from_f32(dtype, values.data(), narrow.data(), numel);
    row_to_f32(dtype, narrow.data(), values.data(), numel);
  }
  return values;
}

}  // namespace facet
