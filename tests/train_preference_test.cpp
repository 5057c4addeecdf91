// DPO and ORPO on a tiny generated model: DPO is exactly ln 2 with a fresh adapter (the
// adapted model equals the reference), both losses against an independent scalar
// evaluation of their formulas, and their LoRA gradients against central finite
// differences of the loss along random directions.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "support/train_test_models.h"
#include "train/preference.h"
#include "train/trainer.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

using namespace test_models;

PreferenceExample make_pair(int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  auto draw = [&](int n) {
    std::vector<int32_t> ids;
    for (int i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>(3 + rng() % static_cast<uint32_t>(vocab - 3)));
    return ids;
  };
  PreferenceExample p;
  p.prompt = draw(5);
  p.prompt[0] = 2;
  p.chosen = draw(4);
  p.rejected = draw(6);
  return p;
}

TEST(TrainPreference, DpoIsLn2WithAFreshAdapter) {
  auto built = build({"tiny_e", "tiny-e", nullptr});
  const Model& model = *built->model;
  ThreadPool pool(2);
  LoraModel lora = make_lora(model, LoraConfig{}, 1);
  std::vector<PreferenceExample> pairs = {make_pair(model.config.vocab_size, 1), make_pair(model.config.vocab_size, 2)};
  PassOptions eval;
  eval.training = false;
  for (const auto& p : pairs) {
    const ReferenceLogProbs ref = reference_logprobs(model, p, pool);
    const PairResult r = preference_loss(model, lora, p, ref, {}, eval, pool);
    EXPECT_EQ(r.loss, std::log(2.0));
    EXPECT_EQ(r.chosen_reward, 0.0);
    EXPECT_LT(ref.chosen.sum, 0.0);
    EXPECT_EQ(ref.chosen.n, 4);
  }
  // The first training step logs the same.
  TrainerOptions options;
  options.method = TrainMethod::Dpo;
  options.grad_accum = 2;
  Trainer trainer(model, lora, options, pool);
  trainer.set_data(pairs, {});
  EXPECT_EQ(trainer.train_step().loss, std::log(2.0));
}

// Loss formulas written out in plain double arithmetic from the log-probs.
double dpo_reference(double cw, double rw, double cl, double rl, double beta) {
  const double x = beta * ((cw - rw) - (cl - rl));
  return std::log(1.0 + std::exp(-x));
}
double orpo_reference(double sw, double nw, double sl, double nl, double beta) {
  const double pw = std::exp(sw / nw), pl = std::exp(sl / nl);
  const double odds = std::log(pw / (1 - pw)) - std::log(pl / (1 - pl));
  return -sw / nw - beta * std::log(1.0 / (1.0 + std::exp(-odds)));
}

class PreferenceGrad : public ::testing::TestWithParam<PreferenceLoss> {};

TEST_P(PreferenceGrad, MatchesFiniteDifferences) {
  auto built = build({"tiny_e", "tiny-e", nullptr});
  const Model& model = *built->model;
  ThreadPool pool(2);
  LoraConfig config;
  config.rank = 4;
  LoraModel lora = make_lora(model, config, 5);
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 0.2f);
  for (auto& [p, g] : lora.parameters())
    for (float& v : *p)
      if (v == 0.0f) v = normal(rng);  // B != 0: the policy differs from the reference
  const PreferenceExample pair = make_pair(model.config.vocab_size, 3);
  const ReferenceLogProbs ref = reference_logprobs(model, pair, pool);
  PreferenceOptions options;
  options.loss = GetParam();
  options.beta = 0.5;
  PassOptions pass;
  pass.training = false;

  lora.zero_grad();
  const PairResult r = preference_gradients(model, lora, pair, ref, options, 1.0, pass, pool);
  const double want = options.loss == PreferenceLoss::Dpo
                          ? dpo_reference(r.chosen.sum, ref.chosen.sum, r.rejected.sum, ref.rejected.sum, options.beta)
                          : orpo_reference(r.chosen.sum, static_cast<double>(r.chosen.n), r.rejected.sum,
                                           static_cast<double>(r.rejected.n), options.beta);
  EXPECT_NEAR(r.loss, want, 1e-9 * std::abs(want));
  EXPECT_GT(std::abs(r.chosen_reward - r.rejected_reward), 1e-4);  // away from the symmetric point

  auto params = lora.parameters();
  std::vector<std::vector<float>> saved;
  for (auto& [p, g] : params) saved.push_back(*p);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::vector<double>> dir(params.size());
    double norm = 0, analytic = 0;
    for (size_t k = 0; k < params.size(); ++k)
      for (size_t i = 0; i < params[k].first->size(); ++i) {
        dir[k].push_back(normal(rng));
        norm += dir[k].back() * dir[k].back();
      }
    norm = std::sqrt(norm);
    for (size_t k = 0; k < params.size(); ++k)
      for (size_t i = 0; i < dir[k].size(); ++i) analytic += (*params[k].second)[i] * (dir[k][i] /= norm);
    auto loss_at = [&](double eps) {
      for (size_t k = 0; k < params.size(); ++k)
        for (size_t i = 0; i < dir[k].size(); ++i)
          (*params[k].first)[i] = static_cast<float>(saved[k][i] + eps * dir[k][i]);
      return preference_loss(model, lora, pair, ref, options, pass, pool).loss;
    };
    const double eps = 1e-2;
    const double numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps);
    for (size_t k = 0; k < params.size(); ++k) *params[k].first = saved[k];
    std::printf("  direction %d: analytic %.6g numeric %.6g\n", trial, analytic, numeric);
    EXPECT_GT(std::abs(analytic), 1e-3);
    EXPECT_NEAR(analytic, numeric, 2e-2 * std::abs(numeric) + 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(TrainPreference, PreferenceGrad, ::testing::Values(PreferenceLoss::Dpo, PreferenceLoss::Orpo),
                         [](const auto& info) { return info.param == PreferenceLoss::Dpo ? "Dpo" : "Orpo"; });

}  // namespace
}  // namespace facet::train
