// HF-folder output of the generator: config.json reads back as the same config, the
// safetensors hold the manifest's HF tensors, with the same values as the GGUF output.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/random_model.h"
#include "support/config_compare.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "tensor/convert.h"

namespace facet {
namespace {

std::string config_path(const std::string& name) { return test::source_dir() + "/models/configs/" + name + ".json"; }

std::vector<float> as_f32(const TensorView& v) {
  std::vector<float> out(static_cast<size_t>(v.numel()));
  row_to_f32(v.dtype, v.data, out.data(), v.numel());
  return out;
}

TEST(GeneratorHf, FolderHoldsTheGgufValuesUnderHfNames) {
  test::TempDir dir;
  for (const char* name : {"tiny-e", "tiny-moe", "tiny-all"}) {
    SCOPED_TRACE(name);
    const ModelConfig c = ModelConfig::from_hf_file(config_path(name));
    GeneratorOptions options;
    options.dtype = DType::BF16;
    options.seed = 99;
    write_random_gguf(c, options, dir.file("m.gguf"));
    const std::string folder = dir.file(name);
    const GeneratedModel m = write_random_hf(c, options, folder);
    test::expect_same_config(c, ModelConfig::from_hf_file(folder + "/config.json"), name);
    EXPECT_TRUE(std::filesystem::exists(folder + "/tokenizer.json"));

    auto gguf = GgufFile::open(dir.file("m.gguf"));
    auto st = SafetensorsSet::open(folder);
    const std::vector<TensorSpec> specs = hf_tensor_specs(c, false);
    EXPECT_EQ(m.tensors, static_cast<int64_t>(specs.size()));
    EXPECT_EQ(st->names().size(), specs.size());
    for (const TensorSpec& spec : specs) {
      const TensorView& v = st->view(std::string(kHfPrefixText) + spec.hf_name);
      EXPECT_EQ(v.dtype, DType::BF16) << spec.hf_name;
      EXPECT_EQ(v.shape, spec.shape) << spec.hf_name;
      // Same numbers; GGUF keeps 1-D tensors in F32, so compare values, not bytes.
      EXPECT_EQ(as_f32(v), as_f32(gguf->tensor(spec.gguf_name)->view)) << spec.hf_name;
    }
  }
}

TEST(GeneratorHf, DeadKvAndMultimodalLayout) {
  test::TempDir dir;
  const ModelConfig c = ModelConfig::from_hf_file(config_path("tiny-e"));
  GeneratorOptions options;
  options.dead_kv = true;
  options.multimodal_layout = true;
  write_random_hf(c, options, dir.path());
  auto st = SafetensorsSet::open(dir.path());
  const std::string p = kHfPrefixMultimodal;
  for (int layer = 4; layer < 7; ++layer) {  // the KV-shared layers of tiny-e
    const std::string h = p + "layers." + std::to_string(layer) + ".self_attn.";
    ASSERT_NE(st->find(h + "k_proj.weight"), nullptr) << layer;
    EXPECT_NE(st->find(h + "v_proj.weight"), nullptr) << layer;
    EXPECT_EQ(st->view(h + "k_norm.weight").shape, (std::vector<int64_t>{c.layers[layer].head_dim})) << layer;
  }
  EXPECT_EQ(st->find(p + "layers.3.self_attn.k_proj.weight") != nullptr, true);
  EXPECT_EQ(st->names().size(), hf_tensor_specs(c, false).size() + 9);
  EXPECT_NE(st->find(p + "layers.0.layer_scalar"), nullptr);
  test::expect_same_config(c, ModelConfig::from_hf_file(dir.file("config.json")), "multimodal");
}

TEST(GeneratorHf, CommandLineWritesAFolder) {
  test::TempDir dir;
  const std::string out = dir.file("hf");
  const std::string cmd = test::facet_bin() + " make-test-model --config " + config_path("tiny-moe") + " --out " + out +
                          " --dtype f16 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto st = SafetensorsSet::open(out);
  EXPECT_EQ(st->view("model.layers.0.experts.gate_up_proj").dtype, DType::F16);
}

}  // namespace
}  // namespace facet
