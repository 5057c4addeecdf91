// Loading bad models: every problem is an Error naming the file and the tensor or key,
// never a crash. Models are written here tensor by tensor so one thing can be broken.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include "model/model_writer.h"
#include "model/random_model.h"
#include "model/tensor_manifest.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/error.h"

namespace facet {
namespace {

ModelConfig tiny_config(const std::string& name = "tiny-all") {
  return ModelConfig::from_hf_file(test::source_dir() + "/models/configs/" + name + ".json");
}

struct Breakage {
  std::string drop;                       // tensor left out
  std::string reshape;                    // tensor written with its first dim + 1
  std::string retype;                     // tensor written as Q5_1 (no kernels for it)
  std::vector<std::pair<std::string, GgufValue>> metadata;  // keys overridden
  std::string extra;                      // an extra tensor added
};

Breakage drop(std::string name) { Breakage b; b.drop = std::move(name); return b; }
Breakage reshape(std::string name) { Breakage b; b.reshape = std::move(name); return b; }
Breakage retype(std::string name) { Breakage b; b.retype = std::move(name); return b; }
Breakage extra(std::string name) { Breakage b; b.extra = std::move(name); return b; }
Breakage with_key(std::string key, GgufValue value) {
  Breakage b;
  b.metadata.emplace_back(std::move(key), std::move(value));
  return b;
}

// A zero-weight GGUF model of `config`, broken as asked.
std::string write_model(const test::TempDir& dir, const ModelConfig& config, const Breakage& b) {
  GgufWriter w;
  write_gguf_metadata(w, config);
  for (auto& [key, value] : b.metadata) w.set(key, value);
  auto zero = [](uint8_t* dst, size_t n) { std::fill(dst, dst + n, uint8_t{0}); };
  for (TensorSpec spec : tensor_manifest(config)) {
    if (spec.gguf_name == b.drop) continue;
    if (spec.gguf_name == b.reshape) spec.shape[0] += 1;
    DType dtype = DType::F32;
    if (spec.gguf_name == b.retype) dtype = DType::Q5_1;
    if (spec.role == TensorRole::RopeFreqs) {
      auto values = rope_freqs_values(config);
      w.add_tensor(spec.gguf_name, DType::F32, spec.shape, [values](uint8_t* dst, size_t n) {
        std::memcpy(dst, values.data(), n);
      });
      continue;
    }
    w.add_tensor(spec.gguf_name, dtype, spec.shape, zero);
  }
  if (!b.extra.empty()) w.add_tensor(b.extra, DType::F32, {4}, zero);
  const std::string path = dir.file("model.gguf");
  w.write(path);
  return path;
}

void expect_load_error(const std::string& path, const std::vector<std::string>& fragments) {
  try {
    load_model(path);
    ADD_FAILURE() << "loaded a broken model; expected: " << fragments[0];
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
  }
}

TEST(ModelLoadErrors, TheUnbrokenModelLoads) {
  test::TempDir dir;
  EXPECT_NO_THROW(load_model(write_model(dir, tiny_config(), {})));
}

TEST(ModelLoadErrors, MissingTensorIsNamed) {
  test::TempDir dir;
  expect_load_error(write_model(dir, tiny_config(), drop("blk.3.attn_k.weight")),
                    {"blk.3.attn_k.weight", "missing"});
  test::TempDir dir2;
  expect_load_error(write_model(dir2, tiny_config(), drop("blk.0.ffn_gate_up_exps.weight")),
                    {"blk.0.ffn_gate_up_exps.weight", "missing"});
}

TEST(ModelLoadErrors, MisShapedTensorNamesBothShapes) {
  test::TempDir dir;
  expect_load_error(write_model(dir, tiny_config(), reshape("blk.2.attn_q.weight")),
                    {"blk.2.attn_q.weight", "[257, 128]", "expected [256, 128]"});
}

TEST(ModelLoadErrors, UncomputableTypeIsNamed) {
  test::TempDir dir;
  expect_load_error(write_model(dir, tiny_config(), retype("blk.1.ffn_up.weight")),
                    {"blk.1.ffn_up.weight", "Q5_1"});
}

TEST(ModelLoadErrors, UnknownArchitecture) {
  test::TempDir dir;
  expect_load_error(write_model(dir, tiny_config(), with_key("general.architecture", GgufValue::of_string("llama"))),
                    {"unsupported architecture", "llama"});
}

TEST(ModelLoadErrors, InconsistentConfig) {
  const ModelConfig c = tiny_config();
  {
    test::TempDir dir;  // 8 query heads over 3 KV heads
    expect_load_error(write_model(dir, c, with_key("gemma4.attention.head_count_kv", GgufValue::of_u32(3))),
                      {"grouped"});
  }
  {
    test::TempDir dir;  // per-layer array of the wrong length
    expect_load_error(write_model(dir, c, with_key("gemma4.feed_forward_length",
                                                       GgufValue::of_array(GgufType::I32, {192, 192}))),
                      {"gemma4.feed_forward_length", "entries"});
  }
  {
    test::TempDir dir;
    expect_load_error(write_model(dir, c, with_key("gemma4.attention.shared_kv_layers", GgufValue::of_u32(99))),
                      {"exceeds the layer count"});
  }
  {
    test::TempDir dir;
    expect_load_error(write_model(dir, c, with_key("gemma4.block_count", GgufValue::of_string("seven"))),
                      {"gemma4.block_count", "expected an integer"});
  }
  {
    test::TempDir dir;  // head size 63 can't be halved for RoPE
    expect_load_error(write_model(dir, c, with_key("gemma4.attention.key_length_swa", GgufValue::of_u32(31))),
                      {"head size"});
  }
}

TEST(ModelLoadErrors, ExtraUnrelatedTensorsAreIgnored) {
  test::TempDir dir;  // e.g. tensors a newer converter adds; the decoder needs none of them
  EXPECT_NO_THROW(load_model(write_model(dir, tiny_config(), extra("v.blk.0.attn_q.weight"))));
}

TEST(ModelLoadErrors, TruncatedModelFileIsRejected) {
  test::TempDir dir;
  const std::string path = write_model(dir, tiny_config(), {});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  expect_load_error(path, {"past the end of the file"});
}

// A multimodal HF checkpoint: the text decoder loads; vision/audio tower tensors, even in
// types facet cannot compute with, are left alone.
TEST(ModelLoadErrors, HfMultimodalFolderSkipsTowerTensors) {
  test::TempDir dir;
  ModelConfig config = tiny_config("tiny-e");
  GeneratorOptions options;
  options.multimodal_layout = true;
  options.dtype = DType::BF16;
  const std::string hf = dir.file("hf");
  write_random_hf(config, options, hf);
  // Add a tower shard with an I8 tensor and an index that lists both files.
  SafetensorsWriter tower;
  std::vector<int8_t> codes(64, 1);
  std::vector<uint16_t> half(16, 0x3c00);
  tower.add_tensor("model.vision_tower.encoder.layers.0.mlp.fc1.weight", DType::I8, {8, 8}, codes.data());
  tower.add_tensor("model.embed_vision.embedding_projection.weight", DType::BF16, {4, 4}, half.data());
  tower.write(hf + "/tower.safetensors");
  auto text = SafetensorsSet::open(hf + "/model.safetensors");
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (const auto& name : text->names()) index["weight_map"][name] = "model.safetensors";
  index["weight_map"]["model.vision_tower.encoder.layers.0.mlp.fc1.weight"] = "tower.safetensors";
  index["weight_map"]["model.embed_vision.embedding_projection.weight"] = "tower.safetensors";
  std::ofstream(hf + "/model.safetensors.index.json") << index.dump();
  auto model = load_model(hf);
  EXPECT_EQ(model->config.n_layers, config.n_layers);
  EXPECT_EQ(model->source->format(), "safetensors");
}

TEST(ModelLoadErrors, HfFolderErrorsUseHfNames) {
  test::TempDir dir;
  ModelConfig config = tiny_config("tiny-moe");
  const std::string hf = dir.file("hf");
  write_random_hf(config, GeneratorOptions{}, hf);
  // Claim a wider hidden size than the weights have.
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(hf + "/config.json"));
  cfg["hidden_size"] = 96;
  std::ofstream(hf + "/config.json") << cfg.dump();
  try {
    load_model(hf);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.embed_tokens.weight"), std::string::npos) << e.what();
  }
  std::ofstream(hf + "/config.json") << "{not json";
  EXPECT_THROW(load_model(hf), Error);
}

}  // namespace
}  // namespace facet
