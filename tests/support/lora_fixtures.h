// Helpers for the adapter tests: adapters with random (non-zero) B, logits of a loaded
// model, and an independent merge — W + Σ s·B·A computed here in double from the base
// GGUF's bytes and written as a new F32 GGUF — that the runtime LoRA path is compared to.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf.h"
#include "model/forward.h"
#include "model/model.h"
#include "support/paths.h"
#include "train/lora.h"
#include "util/thread_pool.h"

namespace facet::test {

inline std::string tiny_e2b_path() { return data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf"; }
inline std::string tiny_moe_path() { return data_dir() + "/models/gemma4-tiny-moe-f32.gguf"; }

// make_lora (PEFT init: B = 0), then B filled with N(0, b_std²) so the adapter does something.
inline train::LoraModel random_adapter(const Model& model, train::LoraConfig config, uint64_t seed,
                                       double b_std = 0.05) {
  train::LoraModel lora = train::make_lora(model, config, seed);
  std::mt19937_64 rng(seed * 7919 + 1);
  std::normal_distribution<double> dist(0.0, b_std);
  for (auto& layer : lora.layers)
    for (auto& m : layer.modules)
      if (m)
        for (float& v : m->b) v = static_cast<float>(dist(rng));
  return lora;
}

// A read-back adapter equals the one written: scaling, and every module's factors bit for bit.
inline void expect_same_adapter(const train::LoraModel& got, const train::LoraModel& want) {
  EXPECT_EQ(got.config.rank, want.config.rank);
  EXPECT_EQ(got.config.alpha, want.config.alpha);
  EXPECT_EQ(got.config.use_rslora, want.config.use_rslora);
  EXPECT_EQ(got.config.scale(), want.config.scale());
  ASSERT_EQ(got.layers.size(), want.layers.size());
  int modules = 0;
  for (size_t l = 0; l < want.layers.size(); ++l)
    for (int t = 0; t < train::kLoraTargetCount; ++t) {
      const train::LoraWeights* g = got.layers[l].get(static_cast<train::LoraTarget>(t));
      const train::LoraWeights* w = want.layers[l].get(static_cast<train::LoraTarget>(t));
      ASSERT_EQ(g != nullptr, w != nullptr) << "layer " << l << " target " << t;
      if (!w) continue;
      ++modules;
      EXPECT_EQ(g->experts, w->experts);
      EXPECT_EQ(g->rank, w->rank);
      EXPECT_EQ(g->a, w->a) << "layer " << l << " target " << t;
      EXPECT_EQ(g->b, w->b) << "layer " << l << " target " << t;
    }
  EXPECT_GT(modules, 0);
}

inline std::vector<float> logits_of(const Model& model, const std::vector<int32_t>& tokens) {
  ThreadPool pool(2);
  KvCache cache(model.config, static_cast<int64_t>(tokens.size()));
  return forward(model, cache, tokens, LogitsFor::AllTokens, pool);
}

inline std::vector<int32_t> test_tokens(int vocab) {
  std::vector<int32_t> t = {2};
  std::mt19937 rng(11);
  while (t.size() < 21) t.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab)));
  return t;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = a.size() == b.size() ? 0.0 : 1e30;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
  return worst;
}

// GGUF base names the test's own table gives each adapted module (spec §3.1), written out
// here rather than taken from the code under test.
inline std::string gguf_base_of(int layer, train::LoraTarget t) {
  static const char* const names[] = {"attn_q",   "attn_k", "attn_v", "attn_output",      "ffn_gate",     "ffn_up",
                                      "ffn_down", "inp_gate", "proj", "ffn_gate_up_exps", "ffn_down_exps"};
  return "blk." + std::to_string(layer) + "." + names[static_cast<int>(t)] + ".weight";
}

// Writes `base_path` (an F32 GGUF) to `out_path` with every adapted weight replaced by
// W + Σ_k scale_k · B_k A_k, summed in double from the stored floats.
inline void write_independently_merged_gguf(const std::string& base_path, const std::string& out_path,
                                            const std::vector<std::pair<const train::LoraModel*, double>>& adapters) {
  auto file = GgufFile::open(base_path);
  GgufWriter writer;
  for (const auto& [key, value] : file->metadata())
    if (key != "general.alignment") writer.set(key, value);
  std::map<std::string, std::vector<float>> merged;
  for (const GgufTensor& t : file->tensors()) {
    std::vector<double> w;
    bool touched = false;
    for (const auto& [lora, scale] : adapters)
      for (size_t l = 0; l < lora->layers.size(); ++l)
        for (int k = 0; k < train::kLoraTargetCount; ++k) {
          const train::LoraWeights* m = lora->layers[l].get(static_cast<train::LoraTarget>(k));
          if (!m || gguf_base_of(static_cast<int>(l), static_cast<train::LoraTarget>(k)) != t.name) continue;
          if (!touched) {
            const float* src = reinterpret_cast<const float*>(t.view.data);
            w.assign(src, src + t.view.numel());
            touched = true;
          }
          const double s = scale * lora->config.scale();
          if (m->experts > 0) {
            // PEFT ParamWrapper (spec §1.5c): A viewed as [E, r, in], B as [out, r, E];
            // ΔW[e, o, i] = s Σ_j B[o, j, e] A[e, j, i]. The GGUF tensor is [E, out, in].
            const int64_t E = m->experts, R = m->rank;
            for (int64_t e = 0; e < E; ++e)
              for (int64_t o = 0; o < m->out; ++o)
                for (int64_t i = 0; i < m->in; ++i) {
                  double sum = 0;
                  for (int64_t j = 0; j < R; ++j)
                    sum += static_cast<double>(m->b[(o * R + j) * E + e]) * m->a[(e * R + j) * m->in + i];
                  w[(e * m->out + o) * m->in + i] += s * sum;
                }
            continue;
          }
          for (int64_t o = 0; o < m->out; ++o)
            for (int64_t i = 0; i < m->in; ++i) {
              double sum = 0;
              for (int64_t r = 0; r < m->rank; ++r)
                sum += static_cast<double>(m->b[o * m->rank + r]) * m->a[r * m->in + i];
              w[o * m->in + i] += s * sum;
            }
        }
    if (!touched) {
      writer.add_tensor(t.name, t.view.dtype, t.view.shape, t.view.data);
      continue;
    }
    std::vector<float>& out = merged[t.name];
    out.assign(w.begin(), w.end());
    writer.add_tensor(t.name, DType::F32, t.view.shape, out.data());
  }
  writer.write(out_path);
}

}  // namespace facet::test
