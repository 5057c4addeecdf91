// The engine's forward pass against the independent float64 reference
// (tests/support/reference_forward) on models our own generator makes: every decoder
// feature on and off, F32/F16/BF16 weights, in batch and token-by-token modes, and the
// same weights loaded from GGUF and from an HF folder.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "model/forward.h"
#include "model/random_model.h"
#include "support/paths.h"
#include "support/reference_forward.h"
#include "support/temp_dir.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

using nlohmann::json;

json load_config_json(const std::string& name) {
  std::ifstream in(test::source_dir() + "/models/configs/" + name + ".json");
  return json::parse(in);
}

struct Variant {
  std::string name;
  std::string base;                  // models/configs/<base>.json
  std::function<void(json&)> edit;   // feature toggles
  DType dtype = DType::F32;
};

std::vector<int32_t> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t = {2};
  while (static_cast<int>(t.size()) < n) t.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab)));
  return t;
}

double compare(const std::vector<float>& got, const std::vector<std::vector<double>>& want, size_t V) {
  double worst = 0;
  for (size_t t = 0; t < want.size(); ++t)
    for (size_t v = 0; v < V; ++v) worst = std::max(worst, std::abs(got[t * V + v] - want[t][v]));
  return worst;
}

std::vector<float> token_by_token(const Model& model, const std::vector<int32_t>& tokens, ThreadPool& pool) {
  KvCache cache(model.config, static_cast<int64_t>(tokens.size()));
  std::vector<float> all;
  for (int32_t t : tokens) {
    auto l = forward(model, cache, {t}, LogitsFor::AllTokens, pool);
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

class ForwardVsReference : public ::testing::TestWithParam<Variant> {};

TEST_P(ForwardVsReference, MatchesTheFloat64ReferenceInBatchAndTokenByToken) {
  const Variant& v = GetParam();
  json j = load_config_json(v.base);
  if (v.edit) v.edit(j);
  ModelConfig config = ModelConfig::from_hf_json(j, v.name);
  test::TempDir dir;
  GeneratorOptions options;
  options.dtype = v.dtype;
  options.seed = 17;
  options.threads = 2;
  const std::string path = dir.file("model.gguf");
  write_random_gguf(config, options, path);

  auto model = load_model(path);
  auto gguf = GgufFile::open(path);
  // 3 windows and a bit: every sliding layer crosses its window in both modes.
  const int n = 3 * config.sliding_window + 5;
  auto tokens = random_tokens(n, config.vocab_size, 99);
  auto want = test::reference_logits(*gguf, tokens);
  const size_t V = static_cast<size_t>(config.vocab_size);

  ThreadPool pool(2);
  KvCache cache(model->config, n);
  auto batch = forward(*model, cache, tokens, LogitsFor::AllTokens, pool);
  const double batch_diff = compare(batch, want, V);
  const double single_diff = compare(token_by_token(*model, tokens, pool), want, V);
  std::printf("  %-24s batch %.3g, token-by-token %.3g\n", v.name.c_str(), batch_diff, single_diff);
  EXPECT_LE(batch_diff, 1e-4);
  EXPECT_LE(single_diff, 1e-4);
  // The logits must actually vary (a dead model would match trivially).
  double spread = 0;
  for (size_t i = 0; i < V; ++i) spread = std::max(spread, std::abs(want[0][i] - want[0][0]));
  EXPECT_GT(spread, 0.5);
}

std::vector<Variant> variants() {
  auto set = [](const char* key, json value) { return [=](json& j) { j[key] = value; }; };
  return {
      {"tiny_e", "tiny-e", nullptr},
      {"tiny_moe", "tiny-moe", nullptr},
      {"tiny_all", "tiny-all", nullptr},
      {"tiny_all_bf16", "tiny-all", nullptr, DType::BF16},
      {"tiny_all_f16", "tiny-all", nullptr, DType::F16},
      {"tiny_all_no_kv_sharing", "tiny-all", set("num_kv_shared_layers", 0)},
      {"tiny_all_no_k_eq_v", "tiny-all", set("attention_k_eq_v", false)},
      {"tiny_all_no_moe", "tiny-all", set("enable_moe_block", false)},
      {"tiny_all_no_ple", "tiny-all", set("hidden_size_per_layer_input", 0)},
      {"tiny_all_single_width_mlp", "tiny-all", set("use_double_wide_mlp", false)},
      {"tiny_e_wide_window", "tiny-e", set("sliding_window", 64)},
      {"tiny_moe_top1", "tiny-moe", set("top_k_experts", 1)},
  };
}

INSTANTIATE_TEST_SUITE_P(Generated, ForwardVsReference, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return info.param.name; });

TEST(ForwardFormats, SameWeightsFromGgufAndHfFolderGiveTheSameLogits) {
  for (DType dtype : {DType::F32, DType::BF16}) {
    ModelConfig config = ModelConfig::from_hf_json(load_config_json("tiny-all"), "tiny-all");
    test::TempDir dir;
    GeneratorOptions options;
    options.dtype = dtype;
    options.seed = 3;
    options.threads = 2;
    options.dead_kv = true;            // released E2B/E4B files carry unused K/V on shared layers
    options.multimodal_layout = true;  // model.language_model. prefix
    write_random_gguf(config, options, dir.file("m.gguf"));
    write_random_hf(config, options, dir.file("hf"));
    auto a = load_model(dir.file("m.gguf"));
    auto b = load_model(dir.file("hf"));
    EXPECT_EQ(a->source->format(), "gguf");
    EXPECT_EQ(b->source->format(), "safetensors");
    ThreadPool pool(2);
    auto tokens = random_tokens(40, config.vocab_size, 5);
    KvCache ca(a->config, 64), cb(b->config, 64);
    auto la = forward(*a, ca, tokens, LogitsFor::AllTokens, pool);
    auto lb = forward(*b, cb, tokens, LogitsFor::AllTokens, pool);
    ASSERT_EQ(la.size(), lb.size());
    for (size_t i = 0; i < la.size(); ++i) ASSERT_EQ(la[i], lb[i]) << "dtype " << dtype_name(dtype) << " at " << i;
  }
}

}  // namespace
}  // namespace facet
