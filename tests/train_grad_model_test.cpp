// The whole model's LoRA gradient against central finite differences of the loss, on
// tiny generated models with each decoder feature on and off, and optimizer steps on a
// repeated sequence that must lower the loss.
//
// The model runs in f32, so the differences are taken along one random unit direction per
// adapter tensor (a directional derivative sums many entries, which lifts it well above the
// f32 rounding of the loss); the differencing itself is in double.
#include <gtest/gtest.h>

#include "support/directional_derivative.h"
#include "support/train_test_models.h"
#include "train/optimizer.h"
#include "train/train_model.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

using namespace test_models;
using nlohmann::json;

struct GradCase {
  Variant model;
  double dropout = 0.0;
};

class GradModel : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradModel, LoraGradientMatchesFiniteDifferences) {
  const GradCase& gc = GetParam();
  auto built = build(gc.model);
  const Model& model = *built->model;
  LoraConfig config;
  config.rank = 4;
  config.alpha = 16;
  config.dropout = gc.dropout;
  config.targets.push_back(LoraTarget::PleGate);
  config.targets.push_back(LoraTarget::PleProj);
  LoraModel lora = make_lora(model, config, 11);
  // B != 0 so A has a gradient too.
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  for (auto& [param, grad] : lora.parameters())
    for (float& p : *param)
      if (p == 0.0f) p = normal(rng);

  const int n = model.config.sliding_window + 4;  // sliding layers cross their window
  auto tokens = random_tokens(n, model.config.vocab_size, 22);
  // Not BOS first: in tiny_all_no_kv_sharing the BOS position's router sits on a near-tie
  // that every finite step flips (the redraw below would then never find a smooth line).
  tokens[0] = 77;
  auto targets = next_token_targets(tokens);
  targets[3] = kIgnoreTarget;  // a masked position in the middle
  PassOptions options;
  options.dropout_seed = 99;
  ThreadPool pool(2);
  lora.zero_grad();
  const LossResult base = training_gradients(model, lora, tokens, targets, options, pool);
  EXPECT_EQ(base.n_targets, n - 2);

  double worst = 0;
  int redrawn = 0;
  std::string worst_name;
  for (size_t l = 0; l < lora.layers.size(); ++l)
    for (size_t t = 0; t < kLoraTargetCount; ++t) {
      LoraWeights* m = lora.layers[l].modules[t] ? &*lora.layers[l].modules[t] : nullptr;
      if (!m) continue;
      for (int which = 0; which < 2; ++which) {
        std::vector<float>& p = which == 0 ? m->a : m->b;
        const std::vector<float>& g = which == 0 ? m->grad_a : m->grad_b;
        const test::DirectionalDerivative d = test::directional_derivative(
            p, g, [&] { return training_loss(model, &lora, tokens, targets, options, pool).mean(); },
            [&] { return normal(rng); });
        ASSERT_TRUE(d.found) << "no smooth direction found";
        redrawn += d.redrawn;
        const double analytic = d.analytic, numeric = d.numeric;
        const double err = std::abs(numeric - analytic) / (std::abs(numeric) + 2e-3);
        if (err > worst) {
          worst = err;
          worst_name = "layer " + std::to_string(l) + " " + lora_target_name(static_cast<LoraTarget>(t)) +
                       (which ? ".B" : ".A") + " analytic " + std::to_string(analytic) + " numeric " +
                       std::to_string(numeric);
        }
      }
    }
  std::printf("  %-26s loss %.4f, worst relative error %.3g (%s), %d directions redrawn\n", gc.model.name.c_str(),
              base.mean(), worst, worst_name.c_str(), redrawn);
  EXPECT_LT(worst, 2e-2);
}

INSTANTIATE_TEST_SUITE_P(GradModel, GradModel,
                         ::testing::ValuesIn([] {
                           std::vector<GradCase> cases;
                           for (const Variant& v : feature_variants()) cases.push_back({v});
                           cases.push_back({{"tiny_all_dropout", "tiny-all", nullptr}, 0.2});
                           cases.push_back({{"tiny_e_bf16", "tiny-e", nullptr, DType::BF16}});
                           // tiny-all's top-4 of 16 experts leaves near-ties that a finite step
                           // flips all the time; top-2 of 8 (as tiny-moe) keeps the check sharp.
                           for (GradCase& c : cases)
                             if (c.model.base == "tiny-all")
                               c.model.edit = [edit = c.model.edit](json& j) {
                                 if (edit) edit(j);
                                 j["num_experts"] = 8;
                                 j["top_k_experts"] = 2;
                               };
                           return cases;
                         }()),
                         [](const auto& info) { return info.param.model.name; });

// A repeated short sequence: a few optimizer steps must lower its loss substantially.
double train_steps(const Model& model, LoraModel& lora, int steps, const std::function<void(LoraModel&)>& update) {
  ThreadPool pool(2);
  auto tokens = random_tokens(24, model.config.vocab_size, 8);
  auto targets = next_token_targets(tokens);
  double first = 0, last = 0;
  for (int s = 0; s < steps; ++s) {
    lora.zero_grad();
    PassOptions options;
    options.dropout_seed = static_cast<uint64_t>(s);
    last = training_gradients(model, lora, tokens, targets, options, pool).mean();
    if (s == 0) first = last;
    update(lora);
  }
  const double final_loss = training_loss(model, &lora, tokens, targets, {.training = false}, pool).mean();
  std::printf("  loss %.4f -> %.4f (last step %.4f)\n", first, final_loss, last);
  return final_loss / first;
}

TEST(TrainLearns, AdamWLowersTheLossOfARepeatedSequence) {
  auto built = build({"tiny_all", "tiny-all", nullptr});
  LoraConfig config;
  config.rank = 8;
  config.alpha = 16;
  config.dropout = 0.05;
  LoraModel lora = make_lora(*built->model, config, 2);
  AdamW adam({.lr = 1e-2});
  EXPECT_LT(train_steps(*built->model, lora, 12, [&](LoraModel& l) { adam.step(l); }), 0.2);
}

TEST(TrainLearns, SgdLowersTheLoss) {
  auto built = build({"tiny_e", "tiny-e", nullptr});
  LoraModel lora = make_lora(*built->model, LoraConfig{}, 2);
  EXPECT_LT(train_steps(*built->model, lora, 8, [](LoraModel& l) { sgd_step(l, 5.0); }), 0.5);
}

}  // namespace
}  // namespace facet::train
