// Field-by-field comparison of two ModelConfigs for round-trip tests. Reals are compared
// at float precision because GGUF stores them as F32. The display name is not compared.
#pragma once

#include <gtest/gtest.h>

#include "model/model_config.h"

namespace facet::test {

inline void expect_same_rope(const RopeConfig& a, const RopeConfig& b, const std::string& what) {
  EXPECT_FLOAT_EQ(a.theta, b.theta) << what;
  EXPECT_EQ(a.head_dim, b.head_dim) << what;
  EXPECT_EQ(a.rotated_pairs, b.rotated_pairs) << what;
  ASSERT_EQ(a.freq_factors.size(), b.freq_factors.size()) << what;
  for (size_t i = 0; i < a.freq_factors.size(); ++i) EXPECT_FLOAT_EQ(a.freq_factors[i], b.freq_factors[i]) << what;
}

inline void expect_same_config(const ModelConfig& a, const ModelConfig& b, const std::string& what) {
  EXPECT_EQ(a.vocab_size, b.vocab_size) << what;
  EXPECT_EQ(a.hidden_size, b.hidden_size) << what;
  EXPECT_EQ(a.n_layers, b.n_layers) << what;
  EXPECT_EQ(a.n_heads, b.n_heads) << what;
  EXPECT_EQ(a.sliding_window, b.sliding_window) << what;
  EXPECT_EQ(a.n_kv_shared_layers, b.n_kv_shared_layers) << what;
  EXPECT_FLOAT_EQ(a.rms_eps, b.rms_eps) << what;
  EXPECT_FLOAT_EQ(a.final_logit_softcap, b.final_logit_softcap) << what;
  EXPECT_EQ(a.max_context, b.max_context) << what;
  EXPECT_EQ(a.ple_dim, b.ple_dim) << what;
  EXPECT_EQ(a.ple_vocab, b.ple_vocab) << what;
  EXPECT_EQ(a.n_experts, b.n_experts) << what;
  EXPECT_EQ(a.n_experts_used, b.n_experts_used) << what;
  EXPECT_EQ(a.expert_ffn_width, b.expert_ffn_width) << what;
  EXPECT_EQ(a.bos_id, b.bos_id) << what;
  EXPECT_EQ(a.eos_id, b.eos_id) << what;
  EXPECT_EQ(a.pad_id, b.pad_id) << what;
  expect_same_rope(a.rope_sliding, b.rope_sliding, what + " sliding RoPE");
  expect_same_rope(a.rope_full, b.rope_full, what + " full RoPE");
  ASSERT_EQ(a.layers.size(), b.layers.size()) << what;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerConfig &x = a.layers[i], &y = b.layers[i];
    const std::string at = what + " layer " + std::to_string(i);
    EXPECT_EQ(x.kind, y.kind) << at;
    EXPECT_EQ(x.head_dim, y.head_dim) << at;
    EXPECT_EQ(x.n_kv_heads, y.n_kv_heads) << at;
    EXPECT_EQ(x.k_eq_v, y.k_eq_v) << at;
    EXPECT_EQ(x.owns_kv, y.owns_kv) << at;
    EXPECT_EQ(x.kv_source, y.kv_source) << at;
    EXPECT_EQ(x.ffn_width, y.ffn_width) << at;
  }
}

}  // namespace facet::test
