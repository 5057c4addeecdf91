// `facet quantize` / quantize_model: quantized copies of the shared tiny models (Q8_0, Q4_0)
// and of a generated model with 256-multiple rows (Q4_K_M, Q6_K) load, run, and stay within
// a stated distance of the F32 logits.
#include "model/quantize_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "model/forward.h"
#include "model/random_model.h"
#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

std::vector<float> all_logits(const std::string& path, const std::vector<int32_t>& tokens) {
  auto model = load_model(path);
  ThreadPool pool(2);
  KvCache cache(model->config, 64);
  return forward(*model, cache, tokens, LogitsFor::AllTokens, pool);
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

// Types of the written file's tensors, by name.
std::map<std::string, DType> tensor_types(const std::string& path) {
  auto f = GgufFile::open(path);
  std::map<std::string, DType> out;
  for (const auto& t : f->tensors()) out[t.name] = t.view.dtype;
  return out;
}

struct TinyCase {
  const char* model;
  const char* scheme;
  double bound;       // max |Δlogit| allowed vs the float64 golden logits
  double mean_bound;  // mean |Δlogit| allowed
  double step_bound = 1e-3;  // token-by-token vs batch
};

// Bounds: logits of these models span about ±10. 8-bit weights and activations (step
// 1/254 of a block's max) move the dense model's logits by a few hundredths, 4-bit weights
// (step 1/15 of a block's range) by a few tenths. The MoE model's worst position is set
// by its router: a near-tie between experts flips under any perturbation, so its max
// bound is loose and the mean bound carries the check. About 2x headroom over measured.
class QuantModelTiny : public ::testing::TestWithParam<TinyCase> {};

TEST_P(QuantModelTiny, StaysCloseToTheGoldenLogits) {
  const TinyCase tc = GetParam();
  const std::string in = test::data_dir() + "/models/" + tc.model + ".gguf";
  std::ifstream golden_file(test::data_dir() + "/models/" + tc.model + ".golden.json");
  const auto golden = nlohmann::json::parse(golden_file);
  const auto tokens = golden["tokens"].get<std::vector<int32_t>>();
  const auto want = golden["logits"].get<std::vector<std::vector<double>>>();

  test::TempDir dir;
  const std::string out = dir.file("q.gguf");
  const QuantScheme scheme = parse_quant_scheme(tc.scheme);
  quantize_model(in, out, scheme, 2);

  // Matrices are quantized (token_embd of Q4_0 in Q8_0), 1-D tensors stay F32.
  auto source = GgufFile::open(in);
  for (const auto& [name, dtype] : tensor_types(out)) {
    const GgufTensor* t = source->tensor(name);
    ASSERT_NE(t, nullptr) << name;
    DType want_type = t->view.rank() == 1 ? DType::F32 : parse_quant_scheme(tc.scheme) == QuantScheme::Q8_0 ? DType::Q8_0
                                                                : name == "token_embd.weight"                ? DType::Q8_0
                                                                                                             : DType::Q4_0;
    EXPECT_EQ(dtype, want_type) << name;
  }
  EXPECT_EQ(GgufFile::open(out)->get_int("general.file_type"), scheme == QuantScheme::Q8_0 ? 7 : 2);

  const std::vector<float> got = all_logits(out, tokens);
  const size_t V = want[0].size();
  double worst = 0, total = 0;
  int same_top1 = 0;
  for (size_t t = 0; t < want.size(); ++t) {
    size_t top_got = 0, top_want = 0;
    for (size_t v = 0; v < V; ++v) {
      const double d = std::fabs(got[t * V + v] - want[t][v]);
      worst = std::max(worst, d);
      total += d;
      if (got[t * V + v] > got[t * V + top_got]) top_got = v;
      if (want[t][v] > want[t][top_want]) top_want = v;
    }
    same_top1 += top_got == top_want;
  }
  const double mean = total / static_cast<double>(want.size() * V);
  std::printf("  %s %s: |Δlogit| vs F32 golden max %.4f (bound %.2f), mean %.4f (bound %.3f), top-1 agrees %d/%zu\n",
              tc.model, tc.scheme, worst, tc.bound, mean, tc.mean_bound, same_top1, want.size());
  RecordProperty("max_abs_logit_diff", std::to_string(worst));
  EXPECT_LE(worst, tc.bound);
  EXPECT_LE(mean, tc.mean_bound);
  EXPECT_GE(same_top1, static_cast<int>(want.size()) - 1);
  EXPECT_GT(worst, 1e-5) << "the quantized model gave the F32 logits exactly: were the weights quantized?";

  // Token by token, every matrix goes through the one-token (decode) kernels, which read the
  // blocks directly; the batch above went through the unpacked prefill kernels. Both see the
  // same quantized activations, so only f32 summation order differs.
  auto model = load_model(out);
  ThreadPool pool(2);
  KvCache cache(model->config, 64);
  double step_worst = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const auto one = forward(*model, cache, {tokens[t]}, LogitsFor::AllTokens, pool);
    for (size_t v = 0; v < V; ++v) step_worst = std::max(step_worst, std::fabs(static_cast<double>(one[v]) - got[t * V + v]));
  }
  std::printf("  %s %s: token-by-token vs batch max |Δlogit| = %.2g\n", tc.model, tc.scheme, step_worst);
  EXPECT_LE(step_worst, tc.step_bound);
}

INSTANTIATE_TEST_SUITE_P(SharedModels, QuantModelTiny,
                         ::testing::Values(TinyCase{"gemma4-tiny-e2b-like-f32", "Q8_0", 0.15, 0.02},
                                           TinyCase{"gemma4-tiny-e2b-like-f32", "Q4_0", 0.8, 0.1},
                                           TinyCase{"gemma4-tiny-moe-f32", "Q8_0", 0.8, 0.05},
                                           TinyCase{"gemma4-tiny-moe-f32", "Q4_0", 1.2, 0.15}),
                         [](const auto& info) {
                           std::string n = std::string(info.param.model).substr(12) + "_" + info.param.scheme;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// A generated model whose rows are 256-multiples (tiny-k256: hidden 256, MoE, PLE) so the
// K-quants apply; compared against the same model's F32 logits.
TEST(QuantModel, KQuantsOnA256WideModel) {
  test::TempDir dir;
  const ModelConfig c = ModelConfig::from_hf_file(test::source_dir() + "/models/configs/tiny-k256.json");
  GeneratorOptions options;
  options.seed = 11;
  options.threads = 2;
  write_random_gguf(c, options, dir.file("f32.gguf"));
  std::vector<int32_t> tokens = {2};
  for (int i = 0; i < 23; ++i) tokens.push_back(5 + (i * 37) % 500);
  const std::vector<float> base = all_logits(dir.file("f32.gguf"), tokens);

  // Max bounds are loose because of MoE router flips (see above); the mean carries the check.
  struct KCase {
    const char* scheme;
    double bound, mean_bound;
  };
  const KCase cases[] = {{"Q6_K", 1.0, 0.05}, {"Q4_K_M", 1.2, 0.15}, {"Q8_0", 1.0, 0.05}};
  for (const auto& [scheme, bound, mean_bound] : cases) {
    const std::string out = dir.file(std::string(scheme) + ".gguf");
    quantize_model(dir.file("f32.gguf"), out, parse_quant_scheme(scheme), 2);
    const auto types = tensor_types(out);
    if (std::string(scheme) == "Q4_K_M") {
      // n_layers 8: llama.cpp's rule upgrades layers 0 (first eighth), 7 (last eighth) and 3
      // ((3 - 1) % 3 == 2) for attn_v / ffn_down; attn_v exists only on layers owning a
      // separate V (sliding layers; full layers here use K=V).
      EXPECT_EQ(types.at("token_embd.weight"), DType::Q6_K);
      EXPECT_EQ(types.at("blk.0.ffn_down.weight"), DType::Q6_K);
      EXPECT_EQ(types.at("blk.3.ffn_down.weight"), DType::Q6_K);
      EXPECT_EQ(types.at("blk.7.ffn_down.weight"), DType::Q6_K);
      EXPECT_EQ(types.at("blk.1.ffn_down.weight"), DType::Q4_K);
      EXPECT_EQ(types.at("blk.0.attn_v.weight"), DType::Q6_K);
      EXPECT_EQ(types.at("blk.1.attn_v.weight"), DType::Q4_K);
      EXPECT_EQ(types.at("blk.1.ffn_down_exps.weight"), DType::Q4_K);
      EXPECT_EQ(types.at("blk.1.attn_q.weight"), DType::Q4_K);
      EXPECT_EQ(types.at("blk.1.proj.weight"), DType::Q4_0);  // 32-wide rows: Q4_K can't hold them
      EXPECT_EQ(types.at("blk.1.attn_norm.weight"), DType::F32);
      // Token by token, every matrix goes through the one-token (decode) kernels, which read
      // the blocks directly; the batch goes through the unpacked prefill kernels. Both use the
      // same quantized activations, so only f32 summation order differs.
      auto model = load_model(out);
      ThreadPool pool(2);
      KvCache batch_cache(model->config, 64), step_cache(model->config, 64);
      const auto batch = forward(*model, batch_cache, tokens, LogitsFor::AllTokens, pool);
      std::vector<float> steps;
      for (int32_t token : tokens) {
        const auto one = forward(*model, step_cache, {token}, LogitsFor::AllTokens, pool);
        steps.insert(steps.end(), one.begin(), one.end());
      }
      const double d = max_abs_diff(steps, batch);
      std::printf("  tiny-k256 Q4_K_M: token-by-token vs batch max |Δlogit| = %.2g\n", d);
      EXPECT_LE(d, 1e-3);
    } else if (std::string(scheme) == "Q6_K") {
      EXPECT_EQ(types.at("blk.1.attn_q.weight"), DType::Q6_K);
      EXPECT_EQ(types.at("blk.1.proj.weight"), DType::Q8_0);
    }
    const std::vector<float> got = all_logits(out, tokens);
    const double d = max_abs_diff(got, base);
    double mean = 0;
    for (size_t i = 0; i < got.size(); ++i) mean += std::fabs(static_cast<double>(got[i]) - base[i]);
    mean /= static_cast<double>(got.size());
    std::printf("  tiny-k256 %s: |Δlogit| vs F32 max %.4f (bound %.2f), mean %.4f (bound %.3f)\n", scheme, d, bound,
                mean, mean_bound);
    EXPECT_LE(d, bound) << scheme;
    EXPECT_LE(mean, mean_bound) << scheme;
    EXPECT_GT(d, 1e-5) << scheme;
  }
}

TEST(QuantModel, HfFolderAndGgufOfTheSameWeightsQuantizeIdentically) {
  test::TempDir dir;
  const ModelConfig c = ModelConfig::from_hf_file(test::source_dir() + "/models/configs/tiny-e.json");
  GeneratorOptions options;
  options.seed = 3;
  options.threads = 2;
  write_random_gguf(c, options, dir.file("m.gguf"));
  write_random_hf(c, options, dir.file("hf"));
  quantize_model(dir.file("m.gguf"), dir.file("a.gguf"), QuantScheme::Q8_0, 2);
  quantize_model(dir.file("hf"), dir.file("b.gguf"), QuantScheme::Q8_0, 2);
  auto a = GgufFile::open(dir.file("a.gguf")), b = GgufFile::open(dir.file("b.gguf"));
  ASSERT_EQ(a->tensors().size(), b->tensors().size());
  for (const auto& t : a->tensors()) {
    const GgufTensor* u = b->tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    ASSERT_EQ(t.view.dtype, u->view.dtype) << t.name;
    ASSERT_EQ(t.view.shape, u->view.shape) << t.name;
    EXPECT_EQ(0, std::memcmp(t.view.data, u->view.data, t.view.byte_size())) << t.name;
  }
  std::vector<int32_t> tokens = {2, 40, 41, 42, 43};
  EXPECT_EQ(all_logits(dir.file("a.gguf"), tokens), all_logits(dir.file("b.gguf"), tokens));
}

TEST(QuantModel, CliQuantizesAndRejectsUnknownTypes) {
  test::TempDir dir;
  const std::string in = test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf";
  auto ok = test::run_command(test::facet_bin() + " quantize " + in + " " + dir.file("q.gguf") + " q4_0");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.err.find("Q4_0"), std::string::npos) << ok.err;
  EXPECT_EQ(tensor_types(dir.file("q.gguf")).at("blk.0.attn_q.weight"), DType::Q4_0);
  auto bad = test::run_command(test::facet_bin() + " quantize " + in + " " + dir.file("r.gguf") + " Q3_X");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("Q3_X"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace facet
