// ModelConfig derived from the real variants' config.json files (models/configs/) checked
// against the numbers in the spec's tables (gemma4-architecture.md §2.1, §2.2, §5).
#include "model/model_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "support/paths.h"
#include "util/error.h"

namespace facet {
namespace {

ModelConfig load_variant(const std::string& name) {
  return ModelConfig::from_hf_file(test::source_dir() + "/models/configs/" + name + ".json");
}

std::vector<int> full_layers(const ModelConfig& c) {
  std::vector<int> out;
  for (int i = 0; i < c.n_layers; ++i)
    if (c.layers[static_cast<size_t>(i)].kind == LayerKind::Full) out.push_back(i);
  return out;
}

// Expected values per variant, typed in from the spec tables.
struct SpecRow {
  const char* file;
  int hidden, layers, heads, kv_sliding, kv_full, ffn, window, ple, shared;
  std::vector<int> full;
  int sliding_source, full_source;  // -1 when there is no sharing
  bool k_eq_v;
  int experts, experts_used, expert_ffn;
  int q_rows_sliding, q_rows_full, k_rows_sliding, k_rows_full;
};

std::vector<int> every(int start, int step, int count) {
  std::vector<int> v;
  for (int i = 0; i < count; ++i) v.push_back(start + i * step);
  return v;
}

const std::vector<SpecRow>& spec_rows() {
  static const std::vector<SpecRow> rows = {
      {"gemma-4-e2b", 1536, 35, 8, 1, 1, 6144, 512, 256, 20, every(4, 5, 7), 13, 14, false, 0, 0, 0,
       2048, 4096, 256, 512},
      {"gemma-4-e4b", 2560, 42, 8, 2, 2, 10240, 512, 256, 18, every(5, 6, 7), 22, 23, false, 0, 0, 0,
       2048, 4096, 512, 1024},
      {"gemma-4-26b-a4b", 2816, 30, 16, 8, 2, 2112, 1024, 0, 0, every(5, 6, 5), -1, -1, true, 128, 8,
       704, 4096, 8192, 2048, 1024},
      {"gemma-4-31b", 5376, 60, 32, 16, 4, 21504, 1024, 0, 0, every(5, 6, 10), -1, -1, true, 0, 0, 0,
       8192, 16384, 4096, 2048},
      {"gemma-4-12b", 3840, 48, 16, 8, 1, 15360, 1024, 0, 0, every(5, 6, 8), -1, -1, true, 0, 0, 0,
       4096, 8192, 2048, 512},
  };
  return rows;
}

TEST(ModelConfig, RealVariantsMatchTheSpecTables) {
  for (const SpecRow& row : spec_rows()) {
    SCOPED_TRACE(row.file);
    ModelConfig c = load_variant(row.file);
    EXPECT_EQ(c.vocab_size, 262144);
    EXPECT_EQ(c.hidden_size, row.hidden);
    EXPECT_EQ(c.n_layers, row.layers);
    EXPECT_EQ(c.n_heads, row.heads);
    EXPECT_EQ(c.sliding_window, row.window);
    EXPECT_EQ(c.ple_dim, row.ple);
    EXPECT_EQ(c.n_kv_shared_layers, row.shared);
    EXPECT_EQ(full_layers(c), row.full);
    EXPECT_EQ(c.n_experts, row.experts);
    EXPECT_EQ(c.n_experts_used, row.experts_used);
    EXPECT_EQ(c.expert_ffn_width, row.expert_ffn);
    EXPECT_DOUBLE_EQ(c.final_logit_softcap, 30.0);
    EXPECT_EQ(c.rope_sliding.head_dim, 256);
    EXPECT_EQ(c.rope_sliding.rotated_pairs, 128);
    EXPECT_DOUBLE_EQ(c.rope_sliding.theta, 10000.0);
    EXPECT_EQ(c.rope_full.head_dim, 512);
    EXPECT_EQ(c.rope_full.rotated_pairs, 64);  // floor(0.25 * 512 / 2)
    EXPECT_DOUBLE_EQ(c.rope_full.theta, 1000000.0);
    const int first_shared = row.layers - row.shared;
    for (int i = 0; i < c.n_layers; ++i) {
      SCOPED_TRACE(i);
      const LayerConfig& l = c.layers[static_cast<size_t>(i)];
      const bool sliding = l.kind == LayerKind::Sliding;
      EXPECT_EQ(l.head_dim, sliding ? 256 : 512);
      EXPECT_EQ(l.n_kv_heads, sliding ? row.kv_sliding : row.kv_full);
      EXPECT_EQ(c.n_heads * l.head_dim, sliding ? row.q_rows_sliding : row.q_rows_full);
      EXPECT_EQ(l.n_kv_heads * l.head_dim, sliding ? row.k_rows_sliding : row.k_rows_full);
      EXPECT_EQ(l.k_eq_v, row.k_eq_v && !sliding);
      if (i < first_shared) {
        EXPECT_TRUE(l.owns_kv);
        EXPECT_EQ(l.kv_source, i);
      } else {
        EXPECT_FALSE(l.owns_kv);
        EXPECT_EQ(l.kv_source, sliding ? row.sliding_source : row.full_source);
      }
      // Double-wide MLP only on E2B's shared layers (12288).
      const bool double_wide = std::string(row.file) == "gemma-4-e2b" && i >= first_shared;
      EXPECT_EQ(l.ffn_width, double_wide ? 2 * row.ffn : row.ffn);
    }
  }
}

TEST(ModelConfig, TinyConfigsFromTheSpec) {
  // Config C ("tiny-all"): full sharer 6 reads layer 3, not layer 1 (last of the same kind).
  ModelConfig c = load_variant("tiny-all");
  EXPECT_EQ(c.layers[4].kv_source, 2);
  EXPECT_EQ(c.layers[5].kv_source, 2);
  EXPECT_EQ(c.layers[6].kv_source, 3);
  EXPECT_TRUE(c.layers[1].k_eq_v);
  EXPECT_EQ(c.layers[1].n_kv_heads, 1);
  EXPECT_EQ(c.layers[0].n_kv_heads, 2);
  EXPECT_EQ(c.layers[3].ffn_width, 192);
  EXPECT_EQ(c.layers[4].ffn_width, 384);
  EXPECT_EQ(c.rope_full.rotated_pairs, 8);
  EXPECT_EQ(c.rope_sliding.rotated_pairs, 16);
  ModelConfig e = load_variant("tiny-e");
  EXPECT_EQ(e.rope_full.rotated_pairs, 4);
  EXPECT_EQ(e.layers[6].kv_source, 3);
}

TEST(ModelConfig, FromSharedGgufModels) {
  auto f = GgufFile::open(test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf");
  ModelConfig c = ModelConfig::from_gguf(*f);
  EXPECT_EQ(c.n_layers, 7);
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.ple_dim, 32);
  EXPECT_EQ(c.ple_vocab, 512);
  EXPECT_EQ(c.layers[4].kv_source, 2);
  EXPECT_EQ(c.layers[6].kv_source, 3);
  EXPECT_EQ(c.layers[6].ffn_width, 512);
  EXPECT_EQ(c.layers[3].head_dim, 64);
  EXPECT_EQ(c.rope_full.rotated_pairs, 8);  // rope_freqs: 8 x 1.0 then 1e30
  EXPECT_FALSE(c.layers[3].k_eq_v);

  auto m = GgufFile::open(test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf");
  ModelConfig moe = ModelConfig::from_gguf(*m);
  EXPECT_EQ(moe.n_experts, 4);
  EXPECT_EQ(moe.n_experts_used, 2);
  EXPECT_EQ(moe.expert_ffn_width, 64);
  EXPECT_TRUE(moe.layers[2].k_eq_v);
  EXPECT_FALSE(moe.layers[1].k_eq_v);
  EXPECT_EQ(moe.layers[2].n_kv_heads, 1);
  EXPECT_EQ(moe.layers[1].n_kv_heads, 2);
}

// use_bidirectional_attention (spec §3 table, §4.3): "vision" on 12B, 26B and 31B, null on
// E2B/E4B. GGUF has no such key: a model without per-layer embeddings reads as "vision", which
// gives the same answer for every released variant (and for the spec's tiny configs).
TEST(ModelConfig, BidirectionalImagesFromConfigAndGguf) {
  for (const char* name : {"gemma-4-12b", "gemma-4-26b-a4b", "gemma-4-31b"}) EXPECT_TRUE(load_variant(name).bidirectional_images) << name;
  for (const char* name : {"gemma-4-e2b", "gemma-4-e4b"}) EXPECT_FALSE(load_variant(name).bidirectional_images) << name;
  for (const char* name : {"tiny-e", "tiny-moe", "tiny-all"}) {
    const ModelConfig c = load_variant(name);
    EXPECT_EQ(c.bidirectional_images, !c.has_ple()) << name;
  }
  auto moe = GgufFile::open(test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf");
  EXPECT_TRUE(ModelConfig::from_gguf(*moe).bidirectional_images);
  auto e2b = GgufFile::open(test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf");
  EXPECT_FALSE(ModelConfig::from_gguf(*e2b).bidirectional_images);
}

TEST(ModelConfig, InconsistentConfigsAreRejectedWithTheKey) {
  using nlohmann::json;
  auto base = json::parse(R"({"model_type":"gemma4_text","vocab_size":512,"hidden_size":64,
    "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":16,
    "global_head_dim":32,"intermediate_size":128,"sliding_window":8,
    "layer_types":["sliding_attention","full_attention"]})");
  EXPECT_NO_THROW(ModelConfig::from_hf_json(base, "cfg"));
  auto expect_error = [](const json& j, const std::string& fragment) {
    try {
      ModelConfig::from_hf_json(j, "cfg.json");
      ADD_FAILURE() << "accepted; expected " << fragment;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("cfg.json"), std::string::npos) << e.what();
    }
  };
  auto j = base; j["model_type"] = "llama"; expect_error(j, "unsupported model_type");
  j = base; j["num_key_value_heads"] = 3; expect_error(j, "grouped");
  j = base; j.erase("hidden_size"); expect_error(j, "hidden_size");
  j = base; j["hidden_size"] = "64"; expect_error(j, "must be an integer");
  j = base; j["layer_types"] = json::array({"sliding_attention"}); expect_error(j, "layer_types");
  j = base; j["layer_types"][1] = "weird"; expect_error(j, "unknown");
  j = base; j["num_kv_shared_layers"] = 5; expect_error(j, "num_kv_shared_layers");
  j = base; j["use_bidirectional_attention"] = "all"; expect_error(j, "use_bidirectional_attention");
  // A shared full layer with no earlier full layer to borrow from.
  j = base; j["layer_types"] = json::array({"sliding_attention", "full_attention"});
  j["num_kv_shared_layers"] = 1; expect_error(j, "no earlier layer of that kind");
  j = base; j["num_hidden_layers"] = -1; expect_error(j, "out of range");
}

}  // namespace
}  // namespace facet
