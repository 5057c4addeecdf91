// LoRA on the MoE experts' fused parameters (PEFT target_parameters "experts.gate_up_proj"
// and "experts.down_proj"): PEFT's factor shapes and init, the training gradient against
// finite differences of the loss, and a fresh adapter leaving the model exactly as it was.
// (Training == inference == independently merged weights: adapter_runtime_test's
// moe_experts cases.)
#include <gtest/gtest.h>

#include <cmath>

#include "formats/gguf.h"
#include "support/lora_fixtures.h"
#include "support/directional_derivative.h"
#include "support/temp_dir.h"
#include "train/adapter_io.h"
#include "train/adapter_runtime.h"
#include "train/merge_export.h"
#include "support/train_test_models.h"
#include "train/train_model.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

using namespace test_models;

LoraConfig expert_config(int rank, std::vector<LoraTarget> targets) {
  LoraConfig c;
  c.rank = rank;
  c.alpha = 2.0 * rank;
  c.targets = std::move(targets);
  return c;
}

TEST(ExpertLora, TargetNamesAreTheTargetParametersNames) {
  EXPECT_EQ(parse_lora_target("experts.gate_up_proj"), LoraTarget::ExpertGateUp);
  EXPECT_EQ(parse_lora_target("experts.down_proj"), LoraTarget::ExpertDown);
  EXPECT_STREQ(lora_target_name(LoraTarget::ExpertGateUp), "experts.gate_up_proj");
  EXPECT_STREQ(lora_target_name(LoraTarget::ExpertDown), "experts.down_proj");
  EXPECT_THROW(parse_lora_target("gate_up_proj"), Error);
}

TEST(ExpertLora, FactorsHavePeftsParamWrapperShapesAndInit) {
  auto model = load_model(test::tiny_moe_path());
  const ModelConfig& c = model->config;  // 4 experts, I = 64, H = 128
  ASSERT_EQ(c.n_experts, 4);
  const int r = 3;
  LoraModel lora = make_lora(*model, expert_config(r, {LoraTarget::ExpertGateUp, LoraTarget::ExpertDown}), 7);
  for (const LoraLayer& layer : lora.layers) {
    ASSERT_EQ(layer.get(LoraTarget::Q), nullptr);
    const LoraWeights* gu = layer.get(LoraTarget::ExpertGateUp);
    const LoraWeights* dn = layer.get(LoraTarget::ExpertDown);
    ASSERT_NE(gu, nullptr);
    ASSERT_NE(dn, nullptr);
    // gate_up [E, 2I, H]: A [r·E, H], B [2I, r·E]; down [E, H, I]: A [r·E, I], B [H, r·E].
    EXPECT_EQ(gu->experts, 4);
    EXPECT_EQ(gu->a.size(), static_cast<size_t>(r * 4 * 128));
    EXPECT_EQ(gu->b.size(), static_cast<size_t>(2 * 64 * r * 4));
    EXPECT_EQ(dn->a.size(), static_cast<size_t>(r * 4 * 64));
    EXPECT_EQ(dn->b.size(), static_cast<size_t>(128 * r * 4));
    for (const LoraWeights* m : {gu, dn}) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(m->in));  // Kaiming-uniform(a=√5), fan_in = in
      double max_abs = 0;
      for (float v : m->a) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
      EXPECT_LE(max_abs, bound);
      EXPECT_GT(max_abs, 0.9 * bound);  // spread over the whole range, not a narrower law
      for (float v : m->b) EXPECT_EQ(v, 0.0f);
    }
  }
  EXPECT_EQ(lora.parameter_count(), 6 * (r * 4 * 128 + 128 * r * 4 + r * 4 * 64 + 128 * r * 4));
}

TEST(ExpertLora, DropoutAndModelsWithoutExpertsAreClearErrors) {
  auto model = load_model(test::tiny_moe_path());
  LoraConfig c = expert_config(2, {LoraTarget::Q, LoraTarget::ExpertDown});
  c.dropout = 0.1;
  try {
    make_lora(*model, c, 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lora_dropout"), std::string::npos) << e.what();
  }
  auto dense = load_model(test::tiny_e2b_path());  // no MoE block
  try {
    make_lora(*dense, expert_config(2, {LoraTarget::ExpertGateUp}), 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("match no module"), std::string::npos) << e.what();
  }
  // Named together with ordinary modules, the experts are just absent (as PEFT skips them).
  const LoraModel mixed = make_lora(*dense, expert_config(2, {LoraTarget::Q, LoraTarget::ExpertGateUp}), 1);
  EXPECT_EQ(mixed.layers[0].get(LoraTarget::ExpertGateUp), nullptr);
  EXPECT_NE(mixed.layers[0].get(LoraTarget::Q), nullptr);
}

TEST(ExpertLora, FreshAdapterGivesTheBaseLogitsExactly) {
  auto model = load_model(test::tiny_moe_path());
  const auto tokens = test::test_tokens(model->config.vocab_size);
  ThreadPool pool(2);
  const LoraModel lora = make_lora(*model, expert_config(4, {LoraTarget::ExpertGateUp, LoraTarget::ExpertDown}), 3);
  // B = 0: every expert's s·B_e (A_e x) is exactly 0, so the logits are bit-identical.
  EXPECT_EQ(training_logits(*model, &lora, tokens, pool), training_logits(*model, nullptr, tokens, pool));
}

// Directional derivatives of the loss (central differences in double, eps and eps/2 must
// agree, else a top-k choice flipped and another direction is drawn) against the
// analytic gradient, for A and B of every expert module.
TEST(ExpertLora, GradientMatchesFiniteDifferences) {
  auto built = build({"tiny_moe", "tiny-moe", nullptr});
  const Model& model = *built->model;
  LoraModel lora = make_lora(model, expert_config(3, {LoraTarget::ExpertGateUp, LoraTarget::ExpertDown, LoraTarget::Up}), 5);
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  for (auto& [param, grad] : lora.parameters())
    for (float& p : *param)
      if (p == 0.0f) p = normal(rng);  // B != 0, so A gets a gradient too

  auto tokens = random_tokens(14, model.config.vocab_size, 31);
  tokens[0] = 77;
  auto targets = next_token_targets(tokens);
  targets[4] = kIgnoreTarget;
  PassOptions options;
  ThreadPool pool(2);
  lora.zero_grad();
  training_gradients(model, lora, tokens, targets, options, pool);

  double worst = 0;
  int checked = 0;
  for (LoraLayer& layer : lora.layers)
    for (LoraTarget t : {LoraTarget::ExpertGateUp, LoraTarget::ExpertDown}) {
      LoraWeights* m = layer.get(t);
      ASSERT_NE(m, nullptr);
      for (int which = 0; which < 2; ++which) {
        std::vector<float>& p = which == 0 ? m->a : m->b;
        const std::vector<float>& g = which == 0 ? m->grad_a : m->grad_b;
        const test::DirectionalDerivative d = test::directional_derivative(
            p, g, [&] { return training_loss(model, &lora, tokens, targets, options, pool).mean(); },
            [&] { return normal(rng); });
        ASSERT_TRUE(d.found) << "no smooth direction found";
        const double analytic = d.analytic, numeric = d.numeric;
        EXPECT_GT(std::abs(numeric), 1e-6) << "the expert factor has no effect on the loss";
        worst = std::max(worst, std::abs(numeric - analytic) / (std::abs(numeric) + 2e-3));
        ++checked;
      }
    }
  std::printf("  %d expert factors checked, worst relative error %.3g\n", checked, worst);
  EXPECT_EQ(checked, 6 * 2 * 2);
  EXPECT_LT(worst, 2e-2);
}

// The tiny MoE model rewritten with gate and up experts as separate tensors
// (ffn_gate_exps / ffn_up_exps [E, I, H]) instead of the fused ffn_gate_up_exps [E, 2I, H].
void write_split_experts(const std::string& in, const std::string& out, std::vector<std::vector<float>>& keep) {
  auto file = GgufFile::open(in);
  GgufWriter writer;
  for (const auto& [key, value] : file->metadata())
    if (key != "general.alignment") writer.set(key, value);
  for (const GgufTensor& t : file->tensors()) {
    const size_t at = t.name.find("ffn_gate_up_exps");
    if (at == std::string::npos) {
      writer.add_tensor(t.name, t.view.dtype, t.view.shape, t.view.data);
      continue;
    }
    ASSERT_EQ(t.view.dtype, DType::F32);
    const int64_t E = t.view.dim(0), I2 = t.view.dim(1), H = t.view.dim(2), I = I2 / 2;
    const float* src = reinterpret_cast<const float*>(t.view.data);
    for (int half = 0; half < 2; ++half) {
      std::vector<float>& v = keep.emplace_back(static_cast<size_t>(E * I * H));
      for (int64_t e = 0; e < E; ++e)
        std::copy_n(src + (e * I2 + half * I) * H, I * H, v.data() + e * I * H);
      std::string name = t.name;
      name.replace(at, 16, half == 0 ? "ffn_gate_exps" : "ffn_up_exps");
      writer.add_tensor(name, DType::F32, {E, I, H}, v.data());
    }
  }
  writer.write(out);
}

// Separate gate / up expert tensors take the gate rows [0, I) and the up rows [I, 2I) of
// the experts.gate_up_proj adapter: attached, trained and merged all agree with the fused file.
TEST(ExpertLora, SplitGateAndUpExpertsUseTheirHalvesOfTheAdapter) {
  test::TempDir dir;
  std::vector<std::vector<float>> keep;
  write_split_experts(test::tiny_moe_path(), dir.file("split.gguf"), keep);
  auto fused = load_model(test::tiny_moe_path());
  auto split = load_model(dir.file("split.gguf"));
  ASSERT_FALSE(split->weights.layers[0].experts_fused);
  const auto tokens = test::test_tokens(fused->config.vocab_size);
  const LoraModel lora = test::random_adapter(*fused, expert_config(2, {LoraTarget::ExpertGateUp}), 13);
  ThreadPool pool(2);
  const auto trained_split = training_logits(*split, &lora, tokens, pool);
  attach_adapters(*fused, {{"a", std::make_shared<const LoraModel>(lora), 1.0}});
  attach_adapters(*split, {{"a", std::make_shared<const LoraModel>(lora), 1.0}});
  const auto want = test::logits_of(*fused, tokens);
  EXPECT_EQ(test::logits_of(*split, tokens), want);
  EXPECT_LE(test::max_abs_diff(trained_split, want), 2e-4);

  save_peft_adapter(lora, *fused, dir.file("peft"));
  MergeExportOptions o;
  o.base = dir.file("split.gguf");
  o.adapters = {{dir.file("peft"), 1.0}};
  o.out = dir.file("merged.gguf");
  o.threads = 2;
  EXPECT_EQ(export_merged(o).adapted_matrices, 6 * 2);  // gate and up tensors of each layer
  EXPECT_LE(test::max_abs_diff(test::logits_of(*load_model(o.out), tokens), want), 1e-5);
}

}  // namespace
}  // namespace facet::train
