// Drafters for speculative-decoding tests: one that guesses at random (nearly every draft
// rejected, so every step rolls the KV cache back) and random Gemma 4 assistant drafters
// shaped for a given target model.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/draft.h"
#include "model/assistant.h"

namespace facet::test {

class RandomDrafter : public Drafter {
 public:
  explicit RandomDrafter(int64_t vocab, uint64_t seed = 7) : vocab_(vocab), rng_(seed) {}
  std::vector<int32_t> propose(const std::vector<int32_t>&, int max) override {
    std::vector<int32_t> out;
    for (int i = 0; i < max; ++i) out.push_back(static_cast<int32_t>(rng_() % static_cast<uint64_t>(vocab_)));
    return out;
  }
  std::string name() const override { return "random"; }

 private:
  int64_t vocab_;
  std::mt19937_64 rng_;
};

// A drafter config that fits `target`: layers of the given kinds, width `hidden`, four
// query heads over the target's single KV head, MLP twice as wide.
inline AssistantConfig assistant_config_for(const ModelConfig& target, std::vector<LayerKind> kinds, int hidden) {
  AssistantConfig a;
  a.name = "test-drafter";
  a.vocab_size = target.vocab_size;
  a.hidden_size = hidden;
  a.backbone_hidden_size = target.hidden_size;
  a.n_layers = static_cast<int>(kinds.size());
  a.n_heads = 4;
  a.sliding_window = target.sliding_window;
  a.rope_sliding = target.rope_sliding;
  a.rope_full = target.rope_full;
  for (LayerKind kind : kinds) {
    LayerConfig l;
    l.kind = kind;
    l.head_dim = target.rope(kind).head_dim;
    l.n_kv_heads = 1;
    l.owns_kv = false;
    l.ffn_width = 2 * hidden;
    a.layers.push_back(l);
  }
  return a;
}

}  // namespace facet::test
