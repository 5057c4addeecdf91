// Metadata writers: ModelConfig -> GGUF keys / HF config.json -> ModelConfig gives the same
// config for every variant, and the keys match what llama.cpp's converter writes.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "model/model_writer.h"
#include "model/tensor_manifest.h"
#include "support/config_compare.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/error.h"

namespace facet {
namespace {

// Every decoder config (drafter configs, model_type gemma4_assistant, are tested in
// model_assistant_test.cpp, vision and audio tower configs in model_vision_test.cpp and
// model_audio_test.cpp).
std::vector<std::string> all_config_paths() {
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator(test::source_dir() + "/models/configs"))
    if (e.path().extension() == ".json" && !e.path().stem().string().ends_with("-assistant") &&
        !e.path().stem().string().ends_with("-vision") && !e.path().stem().string().ends_with("-audio"))
      paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  return paths;
}

// A GGUF holding the metadata plus the tensors from_gguf inspects (token tables for the
// vocabulary sizes, rope_freqs, attn_k/attn_v for K=V detection). Tensor data other than
// rope_freqs is left untouched, so the big tables of real variants stay sparse holes and
// the test writes almost nothing to disk.
std::unique_ptr<GgufFile> metadata_gguf(const ModelConfig& c, const std::string& path) {
  GgufWriter w;
  write_gguf_metadata(w, c, DType::BF16);
  const std::vector<float> rope_freqs = rope_freqs_values(c);
  for (const TensorSpec& spec : tensor_manifest(c)) {
    const std::string& n = spec.gguf_name;
    if (spec.role == TensorRole::RopeFreqs) {
      w.add_tensor(n, DType::F32, spec.shape, rope_freqs.data());
    } else if (spec.role == TensorRole::Embedding || n.ends_with("attn_k.weight") || n.ends_with("attn_v.weight")) {
      w.add_tensor(n, DType::BF16, spec.shape, [](uint8_t*, size_t) {});
    }
  }
  w.write(path);
  return GgufFile::open(path);
}

TEST(ModelWriter, GgufMetadataRoundTripsEveryConfig) {
  test::TempDir dir;
  for (const std::string& path : all_config_paths()) {
    SCOPED_TRACE(path);
    ModelConfig c = ModelConfig::from_hf_file(path);
    c.name = "round-trip";
    auto f = metadata_gguf(c, dir.file("m.gguf"));
    ModelConfig back = ModelConfig::from_gguf(*f);
    EXPECT_EQ(back.name, "round-trip");
    test::expect_same_config(c, back, path);
  }
}

TEST(ModelWriter, HfConfigRoundTripsEveryConfig) {
  for (const std::string& path : all_config_paths()) {
    SCOPED_TRACE(path);
    const ModelConfig c = ModelConfig::from_hf_file(path);
    const nlohmann::json text = hf_config_json(c);
    EXPECT_EQ(text["model_type"], "gemma4_text");
    EXPECT_EQ(text["architectures"], nlohmann::json::array({"Gemma4ForCausalLM"}));
    test::expect_same_config(c, ModelConfig::from_hf_json(text, "text"), path + " (text)");
    // Through a string too, so nothing depends on in-memory JSON types.
    const auto reparsed = nlohmann::json::parse(hf_multimodal_config_json(c).dump());
    EXPECT_EQ(reparsed["architectures"][0], "Gemma4ForConditionalGeneration");
    test::expect_same_config(c, ModelConfig::from_hf_json(reparsed, "multimodal"), path + " (multimodal)");
  }
}

TEST(ModelWriter, E2bKeysMatchTheSpecTable) {
  test::TempDir dir;
  const ModelConfig c = ModelConfig::from_hf_file(test::source_dir() + "/models/configs/gemma-4-e2b.json");
  auto f = metadata_gguf(c, dir.file("e2b.gguf"));
  std::vector<int64_t> ffn(15, 6144);
  ffn.resize(35, 12288);
  const GgufValue* ffn_value = f->find("gemma4.feed_forward_length");
  ASSERT_NE(ffn_value, nullptr);
  EXPECT_TRUE(ffn_value->is_array());
  EXPECT_EQ(ffn_value->integers, ffn);
  EXPECT_FALSE(f->find("gemma4.attention.head_count_kv")->is_array());  // 1 on every layer
  EXPECT_EQ(f->get_int("gemma4.attention.head_count_kv"), 1);
  EXPECT_EQ(f->get_int("gemma4.attention.shared_kv_layers"), 20);
  EXPECT_EQ(f->get_int("gemma4.embedding_length_per_layer_input"), 256);
  EXPECT_EQ(f->get_int("gemma4.rope.dimension_count"), 512);
  EXPECT_EQ(f->get_int("gemma4.rope.dimension_count_swa"), 256);
  EXPECT_EQ(f->get_int("gemma4.context_length"), 131072);
  EXPECT_EQ(f->get_int("general.file_type"), 32);  // BF16
  EXPECT_FALSE(f->has("gemma4.expert_count"));
  const GgufValue* pattern = f->find("gemma4.attention.sliding_window_pattern");
  ASSERT_EQ(pattern->array_type, GgufType::BOOL);
  for (size_t i = 0; i < 35; ++i) EXPECT_EQ(pattern->integers[i], (i % 5 == 4) ? 0 : 1) << i;

  const std::vector<float> freqs = rope_freqs_values(c);
  ASSERT_EQ(freqs.size(), 256u);
  for (size_t i = 0; i < 256; ++i) EXPECT_EQ(freqs[i], i < 64 ? 1.0f : 1e30f) << i;
}

TEST(ModelWriter, MoeKeysMatchTheSpecTable) {
  test::TempDir dir;
  const ModelConfig c = ModelConfig::from_hf_file(test::source_dir() + "/models/configs/gemma-4-26b-a4b.json");
  auto f = metadata_gguf(c, dir.file("moe.gguf"));
  const GgufValue* kv = f->find("gemma4.attention.head_count_kv");
  ASSERT_TRUE(kv->is_array());
  for (size_t i = 0; i < 30; ++i) EXPECT_EQ(kv->integers[i], i % 6 == 5 ? 2 : 8) << i;
  EXPECT_FALSE(f->find("gemma4.feed_forward_length")->is_array());
  EXPECT_EQ(f->get_int("gemma4.feed_forward_length"), 2112);
  EXPECT_EQ(f->get_int("gemma4.expert_count"), 128);
  EXPECT_EQ(f->get_int("gemma4.expert_used_count"), 8);
  EXPECT_EQ(f->get_int("gemma4.expert_feed_forward_length"), 704);
  EXPECT_EQ(f->get_int("gemma4.attention.sliding_window"), 1024);
}

// Our writer, fed the config of a golden GGUF written by the reference tooling, must
// reproduce its general.architecture and gemma4.* keys exactly: same names, types, values.
TEST(ModelWriter, KeysEqualThoseOfTheGoldenGgufs) {
  test::TempDir dir;
  for (const char* name : {"gemma4-tiny-e2b-like-f32.gguf", "gemma4-tiny-moe-f32.gguf"}) {
    SCOPED_TRACE(name);
    auto golden = GgufFile::open(test::data_dir() + "/models/" + name);
    const ModelConfig c = ModelConfig::from_gguf(*golden);
    auto ours = metadata_gguf(c, dir.file("ours.gguf"));
    size_t compared = 0;
    for (const auto& [key, value] : golden->metadata()) {
      if (!key.starts_with("gemma4.") && !key.starts_with("general.architecture") && key != "general.name") continue;
      const GgufValue* mine = ours->find(key);
      ASSERT_NE(mine, nullptr) << key;
      EXPECT_EQ(mine->type, value.type) << key;
      EXPECT_EQ(mine->array_type, value.array_type) << key;
      EXPECT_EQ(mine->integer, value.integer) << key;
      EXPECT_EQ(mine->real, value.real) << key;
      EXPECT_EQ(mine->string, value.string) << key;
      EXPECT_EQ(mine->integers, value.integers) << key;
      ++compared;
    }
    for (const auto& [key, value] : ours->metadata())
      if (key.starts_with("gemma4.")) {
        EXPECT_TRUE(golden->has(key)) << "extra key " << key;
      }
    EXPECT_GT(compared, 20u);
  }
}

TEST(ModelWriter, UnrepresentableConfigsAreRejected) {
  ModelConfig c = ModelConfig::from_hf_file(test::source_dir() + "/models/configs/tiny-e.json");
  ModelConfig uneven = c;
  uneven.rope_full.freq_factors[1] = 2.0;  // per-pair factors: GGUF yes, HF no
  EXPECT_THROW(hf_config_json(uneven), Error);
  EXPECT_EQ(rope_freqs_values(uneven)[1], 2.0f);

  ModelConfig partial_sliding = c;
  partial_sliding.rope_sliding.rotated_pairs = 2;
  partial_sliding.rope_sliding.freq_factors.resize(2);
  GgufWriter w;
  EXPECT_THROW(write_gguf_metadata(w, partial_sliding), Error);

  ModelConfig odd_ffn = c;
  odd_ffn.layers[1].ffn_width = 100;
  EXPECT_THROW(hf_config_json(odd_ffn), Error);
  EXPECT_THROW(gguf_file_type(DType::Q5_1), Error);
  EXPECT_EQ(gguf_file_type(DType::Q4_0), 2u);  // LLAMA_FTYPE_MOSTLY_Q4_0
  EXPECT_EQ(gguf_file_type(DType::Q8_0), 7u);
}

}  // namespace
}  // namespace facet
