// AdamW and SGD updates against the torch.optim formulas worked by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "train/optimizer.h"

namespace facet::train {
namespace {

LoraModel one_module(float a, float b) {
  LoraModel lora;
  lora.layers.resize(1);
  LoraWeights m;
  m.in = m.out = m.rank = 1;
  m.a = {a};
  m.b = {b};
  m.grad_a = {0.0f};
  m.grad_b = {0.0f};
  lora.layers[0].modules[0] = m;
  return lora;
}

TEST(TrainOptimizer, AdamWMatchesTheTorchFormulas) {
  LoraModel lora = one_module(1.0f, -2.0f);
  AdamW adam({.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01});
  LoraWeights& m = *lora.layers[0].get(LoraTarget::Q);
  // Step 1 (g = 0.5): bias-corrected m/sqrt(v) = sign(g), decay applied to the old value.
  m.grad_a = {0.5f};
  m.grad_b = {0.0f};
  adam.step(lora);
  EXPECT_NEAR(m.a[0], 1.0 * (1 - 0.1 * 0.01) - 0.1, 1e-6);
  EXPECT_NEAR(m.b[0], -2.0 * (1 - 0.1 * 0.01), 1e-6);  // zero gradient: decay only
  // Step 2 (g = -0.25).
  m.grad_a = {-0.25f};
  adam.step(lora);
  const double m2 = 0.9 * 0.05 + 0.1 * -0.25, v2 = 0.999 * 0.00025 + 0.001 * 0.0625;
  const double m_hat = m2 / (1 - 0.81), v_hat = v2 / (1 - 0.999 * 0.999);
  const double want = 0.899 * (1 - 0.001) - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8);
  EXPECT_NEAR(m.a[0], want, 1e-6);
  EXPECT_EQ(adam.steps(), 2);
}

TEST(TrainOptimizer, SgdSubtractsTheScaledGradient) {
  LoraModel lora = one_module(1.0f, 2.0f);
  LoraWeights& m = *lora.layers[0].get(LoraTarget::Q);
  m.grad_a = {0.5f};
  m.grad_b = {-1.0f};
  sgd_step(lora, 0.1);
  EXPECT_FLOAT_EQ(m.a[0], 0.95f);
  EXPECT_FLOAT_EQ(m.b[0], 2.1f);
  lora.zero_grad();
  EXPECT_EQ(m.grad_a[0], 0.0f);
  EXPECT_EQ(lora.parameter_count(), 2);
}

}  // namespace
}  // namespace facet::train
