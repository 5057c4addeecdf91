#include "model/random_init.h"

#include <cmath>

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
      // scaled it is a close, bounded (±3.46σ) stand-in for a normal, at one hash per value.
      // With u_k = (x_k + 0.5) / 2^16: value = mean + stddev·√3·(Σu_k − 2), folded into one
      // multiply-add on the integer sum Σx_k.
      const double sigma3 = rule.b * std::sqrt(3.0);
      const float scale = static_cast<float>(sigma3 / 65536.0);
      const float offset = static_cast<float>(rule.a + sigma3 * (2.0 / 65536.0 - 2.0));
      for (int64_t i = 0; i < count; ++i) {
        const uint64_t h = element_bits(key, first + i);
        const uint32_t sum = static_cast<uint32_t>(h & 0xffff) + static_cast<uint32_t>((h >> 16) & 0xffff) +
                             static_cast<uint32_t>((h >> 32) & 0xffff) + static_cast<uint32_t>(h >> 48);
        out[i] = static_cast<float>(sum) * scale + offset;
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

}  // namespace facet
