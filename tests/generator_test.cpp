// Random-model generator: the GGUF holds exactly the manifest tensors, values are
// deterministic per seed, initial statistics follow the recipe, the vocabulary is valid.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

#include "formats/gguf.h"
#include "model/random_init.h"
#include "model/random_model.h"
#include "model/test_vocabulary.h"
#include "support/config_compare.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/error.h"
#include "util/thread_pool.h"
#include "tensor/convert.h"

namespace facet {
namespace {

std::string config_path(const std::string& name) { return test::source_dir() + "/models/configs/" + name + ".json"; }

std::vector<float> values_of(const GgufTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.view.numel()));
  row_to_f32(t.view.dtype, t.view.data, out.data(), t.view.numel());
  return out;
}

struct Moments {
  double mean = 0, stddev = 0, min = 1e300, max = -1e300;
};
Moments moments(const std::vector<float>& v) {
  Moments m;
  double sum = 0, sq = 0;
  for (float x : v) {
    sum += x;
    sq += double(x) * x;
    m.min = std::min<double>(m.min, x);
    m.max = std::max<double>(m.max, x);
  }
  m.mean = sum / v.size();
  m.stddev = std::sqrt(std::max(0.0, sq / v.size() - m.mean * m.mean));
  return m;
}

TEST(Generator, GgufHoldsExactlyTheManifestTensors) {
  test::TempDir dir;
  for (const char* name : {"tiny-e", "tiny-moe", "tiny-all"}) {
    for (DType dtype : {DType::F32, DType::BF16}) {
      SCOPED_TRACE(std::string(name) + " " + std::string(dtype_name(dtype)));
      const ModelConfig c = ModelConfig::from_hf_file(config_path(name));
      GeneratorOptions options;
      options.dtype = dtype;
      options.seed = 7;
      const GeneratedModel m = write_random_gguf(c, options, dir.file("m.gguf"));
      auto f = GgufFile::open(dir.file("m.gguf"));
      const std::vector<TensorSpec> manifest = tensor_manifest(c);
      EXPECT_EQ(m.tensors, static_cast<int64_t>(manifest.size()));
      EXPECT_EQ(m.bytes, f->file_size());
      ASSERT_EQ(f->tensors().size(), manifest.size());
      for (const TensorSpec& spec : manifest) {
        const GgufTensor* t = f->tensor(spec.gguf_name);
        ASSERT_NE(t, nullptr) << spec.gguf_name;
        EXPECT_EQ(t->view.shape, spec.shape) << spec.gguf_name;
        EXPECT_EQ(t->view.dtype, spec.shape.size() == 1 ? DType::F32 : dtype) << spec.gguf_name;
        if (dtype == DType::BF16 && t->view.dtype == DType::F32)  // rounded through BF16 first
          for (float x : values_of(*t))
            if (spec.role != TensorRole::RopeFreqs) {
              EXPECT_EQ(bf16_to_f32(f32_to_bf16(x)), x) << spec.gguf_name;
            }
      }
      test::expect_same_config(c, ModelConfig::from_gguf(*f), name);
      EXPECT_EQ(f->get_int("general.file_type"), dtype == DType::F32 ? 0 : 32);
    }
  }
}

TEST(Generator, SameSeedSameBytesOtherSeedOtherValues) {
  test::TempDir dir;
  const ModelConfig c = ModelConfig::from_hf_file(config_path("tiny-all"));
  GeneratorOptions options;
  options.dtype = DType::F16;
  options.seed = 11;
  write_random_gguf(c, options, dir.file("a.gguf"));
  options.threads = 1;  // thread count must not change the values
  write_random_gguf(c, options, dir.file("b.gguf"));
  options.seed = 12;
  write_random_gguf(c, options, dir.file("c.gguf"));
  EXPECT_EQ(test::read_bytes(dir.file("a.gguf")), test::read_bytes(dir.file("b.gguf")));
  auto a = GgufFile::open(dir.file("a.gguf"));
  auto other = GgufFile::open(dir.file("c.gguf"));
  for (const GgufTensor& t : a->tensors()) {
    if (t.name == "rope_freqs.weight") continue;
    const GgufTensor* u = other->tensor(t.name);
    EXPECT_NE(std::memcmp(t.view.data, u->view.data, t.view.byte_size()), 0) << t.name;
  }
}

TEST(Generator, InitialStatisticsFollowTheRecipe) {
  test::TempDir dir;
  const ModelConfig c = ModelConfig::from_hf_file(config_path("tiny-all"));
  GeneratorOptions options;
  options.seed = 3;
  write_random_gguf(c, options, dir.file("m.gguf"));
  auto f = GgufFile::open(dir.file("m.gguf"));
  auto stats = [&](const std::string& name) { return moments(values_of(*f->tensor(name))); };
  auto expect_near_rel = [](double actual, double expected, double rel, const std::string& what) {
    EXPECT_NEAR(actual, expected, rel * expected) << what;
  };

  for (const char* m : {"blk.0.attn_q.weight", "blk.1.attn_output.weight", "blk.4.ffn_down.weight",
                        "blk.2.ffn_gate_up_exps.weight", "blk.2.ffn_down_exps.weight", "per_layer_model_proj.weight"}) {
    const GgufTensor* t = f->tensor(m);
    const Moments s = stats(m);
    EXPECT_NEAR(s.mean, 0, 0.05 / std::sqrt(double(t->view.shape.back()))) << m;
    expect_near_rel(s.stddev, 1 / std::sqrt(double(t->view.shape.back())), 0.05, m);
    EXPECT_LT(s.max, 4 / std::sqrt(double(t->view.shape.back()))) << m;  // bounded tails
  }
  expect_near_rel(stats("token_embd.weight").stddev, 1 / std::sqrt(128.0), 0.05, "token_embd");
  expect_near_rel(stats("per_layer_token_embd.weight").stddev, 1 / std::sqrt(32.0), 0.05, "per_layer_token_embd");
  for (const char* n : {"output_norm.weight", "blk.0.attn_norm.weight", "blk.3.ffn_norm.weight",
                        "blk.0.pre_ffw_norm_2.weight", "blk.0.post_ffw_norm_1.weight"}) {
    const Moments s = stats(n);
    EXPECT_NEAR(s.mean, 1.0, 0.04) << n;
    EXPECT_NEAR(s.stddev, 0.1, 0.03) << n;
  }
  for (const char* n : {"blk.0.post_attention_norm.weight", "blk.5.post_ffw_norm.weight", "blk.2.post_norm.weight"})
    EXPECT_NEAR(stats(n).mean, 0.1, 0.006) << n;
  EXPECT_NEAR(stats("blk.0.attn_q_norm.weight").mean, std::pow(32.0, -0.25), 0.04);
  EXPECT_NEAR(stats("blk.1.attn_k_norm.weight").mean, std::pow(64.0, -0.25), 0.04);
  std::set<float> scalars;
  for (int i = 0; i < c.n_layers; ++i) {
    const Moments s = stats("blk." + std::to_string(i) + ".layer_output_scale.weight");
    EXPECT_TRUE(s.min >= 0.9 && s.max <= 1.0) << i;
    scalars.insert(static_cast<float>(s.mean));
  }
  EXPECT_EQ(scalars.size(), static_cast<size_t>(c.n_layers));  // distinct per layer
  const Moments experts = stats("blk.0.ffn_down_exps.scale");
  EXPECT_TRUE(experts.min >= 0.5 && experts.max <= 1.5 && experts.stddev > 0.1);
  EXPECT_NEAR(stats("blk.0.ffn_gate_inp.scale").mean, 1.0, 0.05);
}

// The stored F16/BF16 values are the F32 values rounded by the portable conversion (the
// generator may use a faster path; it must give the same bits).
TEST(Generator, NarrowWeightsAreTheRoundedF32Values) {
  const ModelConfig c = ModelConfig::from_hf_file(config_path("tiny-all"));
  ThreadPool pool(2);
  for (DType dtype : {DType::F16, DType::BF16}) {
    for (const TensorSpec& spec : tensor_manifest(c)) {
      if (spec.shape.size() < 2) continue;
      int64_t n = 1;
      for (int64_t d : spec.shape) n *= d;
      GeneratorOptions options;
      options.seed = 21;
      std::vector<float> f32(static_cast<size_t>(n));
      produce_tensor(spec, c, options, DType::F32, reinterpret_cast<uint8_t*>(f32.data()), pool);
      std::vector<uint16_t> expected(f32.size()), actual(f32.size());
      row_from_f32(dtype, f32.data(), expected.data(), n);
      options.dtype = dtype;
      produce_tensor(spec, c, options, dtype, reinterpret_cast<uint8_t*>(actual.data()), pool);
      ASSERT_EQ(actual, expected) << spec.gguf_name << " " << dtype_name(dtype);
    }
  }
}

TEST(Generator, FillRandomDependsOnlyOnTheElementIndex) {
  const InitRule rule{InitRule::Kind::Normal, 0, 1};
  const uint64_t key = tensor_key(5, "x");
  std::vector<float> whole(1000), part(300);
  fill_random(rule, key, 0, 1000, whole.data());
  fill_random(rule, key, 500, 300, part.data());
  for (int i = 0; i < 300; ++i) EXPECT_EQ(part[i], whole[500 + i]);
  EXPECT_NE(tensor_key(5, "x"), tensor_key(6, "x"));
  EXPECT_NE(tensor_key(5, "x"), tensor_key(5, "y"));
}

TEST(Generator, RandomTensorValuesAreTheDrawnValuesRoundedToTheDtype) {
  const InitRule rule{InitRule::Kind::Normal, 0, 1};
  const uint64_t key = tensor_key(9, "t");
  std::vector<float> drawn(12);
  fill_random(rule, key, 0, 12, drawn.data());
  EXPECT_EQ(random_tensor_values(rule, key, {3, 4}, DType::F32), drawn);
  const std::vector<float> bf16 = random_tensor_values(rule, key, {3, 4}, DType::BF16);
  ASSERT_EQ(bf16.size(), 12u);
  for (size_t i = 0; i < drawn.size(); ++i) {
    // bf16: the top 16 bits, rounded to nearest even (the draws are finite).
    uint32_t bits;
    std::memcpy(&bits, &drawn[i], 4);
    bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
    float want;
    std::memcpy(&want, &bits, 4);
    EXPECT_EQ(bf16[i], want) << i;
  }
}

TEST(Generator, OutputHelpersWriteAndReport) {
  test::TempDir dir;
  const std::string out = dir.file("a/b");
  create_output_folder(out);
  write_text_file(out + "/one.txt", "12345");
  write_text_file(out + "/two.txt", "abc");
  const GeneratedModel report =
      generated_model_report({out + "/one.txt", out + "/two.txt"}, 7, std::chrono::steady_clock::now());
  EXPECT_EQ(report.bytes, 8u);
  EXPECT_EQ(report.tensors, 7);
  EXPECT_EQ(report.files.size(), 2u);
  EXPECT_GE(report.seconds, 0.0);
  EXPECT_THROW(create_output_folder(out + "/one.txt"), Error);
  EXPECT_THROW(write_text_file(dir.file("missing/x.txt"), "x"), Error);
  EXPECT_STREQ(torch_dtype_name(DType::F32), "float32");
  EXPECT_STREQ(torch_dtype_name(DType::F16), "float16");
  EXPECT_STREQ(torch_dtype_name(DType::BF16), "bfloat16");
}

TEST(Generator, SyntheticVocabularyIsAValidBpeVocabulary) {
  const TestVocabulary v = synthetic_vocabulary(512);
  ASSERT_EQ(v.tokens.size(), 512u);
  EXPECT_EQ(v.tokens[2], "<bos>");
  EXPECT_EQ(v.tokens[5], "<0x00>");
  EXPECT_EQ(v.tokens[260], "<0xFF>");
  EXPECT_EQ(v.types[3], GgufTokenType::Unknown);
  EXPECT_EQ(v.types[100], GgufTokenType::Byte);
  std::set<std::string> tokens(v.tokens.begin(), v.tokens.end());
  EXPECT_EQ(tokens.size(), v.tokens.size());  // no duplicates
  EXPECT_GT(v.merges.size(), 50u);
  for (const std::string& m : v.merges) {
    const size_t space = m.find(' ');
    ASSERT_NE(space, std::string::npos) << m;
    EXPECT_TRUE(tokens.count(m.substr(0, space)) && tokens.count(m.substr(space + 1)) &&
                tokens.count(m.substr(0, space) + m.substr(space + 1)))
        << m;
  }
  EXPECT_EQ(synthetic_vocabulary(5).tokens.size(), 5u);
  EXPECT_EQ(synthetic_vocabulary(100).tokens.size(), 100u);  // no room for byte tokens
  EXPECT_THROW(synthetic_vocabulary(4), Error);
}

// The shared configs (generator keys, no model_type, MoE from num_experts, an integer
// sliding_window_pattern) describe the golden GGUFs; so must the files we generate from them.
TEST(Generator, SharedConfigsGiveTheGoldenModelsShapeAndTokenizerKeys) {
  test::TempDir dir;
  const std::string shared = test::data_dir() + "/models/";
  for (const char* name : {"tiny-e2b-like", "tiny-moe"}) {
    SCOPED_TRACE(name);
    const GeneratorConfig g = load_generator_config(shared + "configs/" + name + ".json");
    EXPECT_EQ(g.options.dtype, DType::F32);
    EXPECT_NE(g.options.seed, 0u);
    write_random_gguf(g.model, g.options, dir.file("m.gguf"));
    auto ours = GgufFile::open(dir.file("m.gguf"));
    auto golden = GgufFile::open(shared + "gemma4-" + name + "-f32.gguf");
    test::expect_same_config(ModelConfig::from_gguf(*golden), ModelConfig::from_gguf(*ours), name);
    EXPECT_EQ(ours->get_string("general.name"), golden->get_string("general.name"));
    for (const auto& [key, value] : golden->metadata())
      if (key.starts_with("tokenizer.")) {
        const GgufValue* mine = ours->find(key);
        ASSERT_NE(mine, nullptr) << key;
        EXPECT_EQ(mine->type, value.type) << key;
        EXPECT_EQ(mine->array_type, value.array_type) << key;
      }
    EXPECT_EQ(ours->get_string_array("tokenizer.ggml.tokens").size(), 512u);
  }
}

TEST(Generator, RealTokenizerIsCopiedWithLlamaCppTokenTypes) {
  test::TempDir dir;
  const std::string shared = test::data_dir() + "/models/";
  const GeneratorConfig g = load_generator_config(shared + "configs/tiny-realvocab.json");
  ASSERT_FALSE(g.options.hf_tokenizer_json.empty());
  EXPECT_EQ(g.options.dtype, DType::F16);
  write_random_gguf(g.model, g.options, dir.file("m.gguf"));
  auto ours = GgufFile::open(dir.file("m.gguf"));
  auto golden = GgufFile::open(shared + "gemma4-tiny-realvocab-f16.gguf");
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"})
    EXPECT_TRUE(ours->get_string_array(key) == golden->get_string_array(key)) << key;
  EXPECT_TRUE(ours->find("tokenizer.ggml.token_type")->integers == golden->find("tokenizer.ggml.token_type")->integers);
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                          "tokenizer.ggml.padding_token_id", "tokenizer.ggml.mask_token_id"})
    EXPECT_EQ(ours->get_int(key), golden->get_int(key)) << key;
  test::expect_same_config(ModelConfig::from_gguf(*golden), ModelConfig::from_gguf(*ours), "realvocab");
}

TEST(Generator, CommandLineWritesAGguf) {
  test::TempDir dir;
  const std::string out = dir.file("cli.gguf");
  const std::string cmd = test::facet_bin() + " make-test-model --config " + config_path("tiny-moe") + " --out " + out +
                          " --dtype bf16 --seed 9 2>" + dir.file("log");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto f = GgufFile::open(out);
  EXPECT_EQ(f->tensor("blk.0.attn_q.weight")->view.dtype, DType::BF16);
  EXPECT_EQ(f->get_int("general.file_type"), 32);
  const std::vector<uint8_t> log = test::read_bytes(dir.file("log"));
  EXPECT_NE(std::string(log.begin(), log.end()).find("tensors"), std::string::npos);
  const std::string bad = test::facet_bin() + " make-test-model --config " + config_path("tiny-moe") + " --out " + out +
                          " --dtype q4 2>/dev/null";
  EXPECT_NE(std::system(bad.c_str()), 0);
}

}  // namespace
}  // namespace facet
