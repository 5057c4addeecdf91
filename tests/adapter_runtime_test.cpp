// LoRA adapters applied at inference (WeightMatrix::lora, attach_adapters): PEFT's
// semantics against an independent double-precision merge of W + s·B·A, on the tiny
// E2B-like model (PLE, KV sharing, double-wide MLP) and the tiny MoE model (K=V layers).
#include <gtest/gtest.h>

#include <random>

#include "kernels/matmul.h"
#include "support/lora_fixtures.h"
#include "support/temp_dir.h"
#include "train/adapter_runtime.h"
#include "train/train_model.h"
#include "util/error.h"

namespace facet::train {
namespace {

using test::logits_of;
using test::max_abs_diff;

std::shared_ptr<const LoraModel> shared(LoraModel m) { return std::make_shared<const LoraModel>(std::move(m)); }

LoraConfig config_of(int rank, double alpha, bool rslora, std::vector<LoraTarget> targets = {}) {
  LoraConfig c;
  c.rank = rank;
  c.alpha = alpha;
  c.use_rslora = rslora;
  if (!targets.empty()) c.targets = targets;
  return c;
}

TEST(LoraRuntime, FreshAdapterAndScaleZeroGiveTheBaseExactly) {
  auto model = load_model(test::tiny_e2b_path());
  const auto tokens = test::test_tokens(model->config.vocab_size);
  const auto base = logits_of(*model, tokens);

  // PEFT init: B = 0, so B (A x) is exactly zero and y + s·0 == y bit for bit.
  attach_adapters(*model, {{"fresh", shared(make_lora(*model, config_of(4, 8, false), 3)), 1.0}});
  EXPECT_EQ(logits_of(*model, tokens), base);

  // A real adapter at scale 0 is loaded but off.
  attach_adapters(*model, {{"off", shared(test::random_adapter(*model, config_of(4, 8, false), 5)), 0.0}});
  EXPECT_EQ(logits_of(*model, tokens), base);

  // At scale 1 it changes the logits, and detaching gives the base back.
  attach_adapters(*model, {{"on", shared(test::random_adapter(*model, config_of(4, 8, false), 5)), 1.0}});
  EXPECT_GT(max_abs_diff(logits_of(*model, tokens), base), 1e-2);
  attach_adapters(*model, {});
  EXPECT_EQ(logits_of(*model, tokens), base);
}

struct MergeCase {
  std::string name;
  std::string model;
  LoraConfig config;
};

class LoraRuntimeVsMerge : public ::testing::TestWithParam<MergeCase> {};

// logits(base + attached adapter) == logits(model whose weights the test merged itself).
TEST_P(LoraRuntimeVsMerge, AttachedEqualsIndependentlyMergedWeights) {
  test::TempDir dir;
  auto model = load_model(GetParam().model);
  const auto tokens = test::test_tokens(model->config.vocab_size);
  const LoraModel lora = test::random_adapter(*model, GetParam().config, 17);
  const auto base = logits_of(*model, tokens);

  attach_adapters(*model, {{"a", std::make_shared<const LoraModel>(lora), 1.0}});
  const auto adapted = logits_of(*model, tokens);
  test::write_independently_merged_gguf(GetParam().model, dir.file("merged.gguf"), {{&lora, 1.0}});
  const auto merged = logits_of(*load_model(dir.file("merged.gguf")), tokens);

  const double effect = max_abs_diff(adapted, base), error = max_abs_diff(adapted, merged);
  std::printf("  %-12s adapter moves logits by %.3g; |attached - merged| = %.3g\n", GetParam().name.c_str(), effect,
              error);
  EXPECT_GT(effect, 0.05);  // the adapter really acts
  EXPECT_LE(error, 1e-5);   // f32 rounding of W x + s B (A x) vs (W + s B A) x through the stack

  // The training forward (a separate implementation of the LoRA layer) agrees too.
  attach_adapters(*model, {});
  ThreadPool pool(2);
  const auto trained = training_logits(*model, &lora, tokens, pool);
  EXPECT_LE(max_abs_diff(trained, adapted), 2e-4);
}

INSTANTIATE_TEST_SUITE_P(
    LoraModels, LoraRuntimeVsMerge,
    ::testing::Values(MergeCase{"e2b_all", test::tiny_e2b_path(), config_of(4, 8, false)},
                      MergeCase{"e2b_ple_rs", test::tiny_e2b_path(),
                                config_of(3, 6, true, {LoraTarget::Q, LoraTarget::V, LoraTarget::Down,
                                                       LoraTarget::PleGate, LoraTarget::PleProj})},
                      MergeCase{"moe_all", test::tiny_moe_path(), config_of(8, 16, false)},
                      // LoRA on the experts' fused 3-D parameters (PEFT target_parameters).
                      MergeCase{"moe_experts", test::tiny_moe_path(),
                                config_of(4, 8, false, {LoraTarget::Q, LoraTarget::ExpertGateUp,
                                                        LoraTarget::ExpertDown})},
                      MergeCase{"moe_experts_rs", test::tiny_moe_path(),
                                config_of(2, 6, true, {LoraTarget::ExpertDown})}),
    [](const auto& info) { return info.param.name; });

TEST(LoraRuntime, TwoAdaptersAddWithTheirScales) {
  test::TempDir dir;
  auto model = load_model(test::tiny_e2b_path());
  const auto tokens = test::test_tokens(model->config.vocab_size);
  const LoraModel x = test::random_adapter(*model, config_of(4, 8, false), 21);
  const LoraModel y = test::random_adapter(*model, config_of(2, 4, true, {LoraTarget::Q, LoraTarget::Up}), 22);
  attach_adapters(*model, {{"x", std::make_shared<const LoraModel>(x), 0.7},
                           {"y", std::make_shared<const LoraModel>(y), -1.5}});
  const auto both = logits_of(*model, tokens);
  test::write_independently_merged_gguf(test::tiny_e2b_path(), dir.file("merged.gguf"), {{&x, 0.7}, {&y, -1.5}});
  const auto merged = logits_of(*load_model(dir.file("merged.gguf")), tokens);
  EXPECT_LE(max_abs_diff(both, merged), 1e-5);
}

TEST(LoraRuntime, AnAdapterThatDoesNotFitIsRefusedAndNothingChanges) {
  auto e2b = load_model(test::tiny_e2b_path());
  auto moe = load_model(test::tiny_moe_path());
  const auto tokens = test::test_tokens(moe->config.vocab_size);
  const auto base = logits_of(*moe, tokens);
  const LoraModel other = test::random_adapter(*e2b, config_of(4, 8, false), 1);
  try {
    attach_adapters(*moe, {{"e2b-adapter", std::make_shared<const LoraModel>(other), 1.0}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("e2b-adapter"), std::string::npos) << e.what();
  }
  EXPECT_EQ(logits_of(*moe, tokens), base);
}

// Row slices (how an expert's gate and up halves are cut from one matrix) keep the rows of
// B that belong to them; checked against a plain double computation.
TEST(LoraRuntime, RowSlicesUseTheirOwnRowsOfB) {
  const int64_t rows = 12, cols = 64, rank = 3, n = 2;
  std::mt19937 rng(4);
  std::normal_distribution<float> dist(0, 1);
  std::vector<float> w(rows * cols), a(rank * cols), b(rows * rank), x(n * cols);
  for (auto* v : {&w, &a, &b, &x})
    for (float& f : *v) f = dist(rng);
  LoraDelta delta{a.data(), b.data(), rank, 0.5f, nullptr};
  WeightMatrix m{DType::F32, reinterpret_cast<const uint8_t*>(w.data()), rows, cols};
  m.lora = &delta;
  const WeightMatrix slice = m.slice_rows(5, 4);
  std::vector<float> y(n * 4);
  matmul(slice, x.data(), n, y.data(), nullptr);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < 4; ++r) {
      double want = 0;
      for (int64_t c = 0; c < cols; ++c) {
        double merged = w[(5 + r) * cols + c];
        for (int64_t j = 0; j < rank; ++j) merged += 0.5 * b[(5 + r) * rank + j] * a[j * cols + c];
        want += merged * x[t * cols + c];
      }
      EXPECT_NEAR(y[t * 4 + r], want, 1e-4 * (1 + std::abs(want)));
    }
}

TEST(LoraRuntime, LoraArgumentParsing) {
  EXPECT_EQ(parse_lora_argument("a/b.gguf"), std::make_pair(std::string("a/b.gguf"), 1.0));
  EXPECT_EQ(parse_lora_argument("a/b.gguf:0.5"), std::make_pair(std::string("a/b.gguf"), 0.5));
  EXPECT_EQ(parse_lora_argument("a/b.gguf:-2"), std::make_pair(std::string("a/b.gguf"), -2.0));
  EXPECT_EQ(parse_lora_argument("dir:x/adapter"), std::make_pair(std::string("dir:x/adapter"), 1.0));
  EXPECT_THROW(parse_lora_argument(":0.5"), Error);
  EXPECT_THROW(parse_lora_argument(""), Error);
}

}  // namespace
}  // namespace facet::train
