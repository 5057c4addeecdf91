// Full-parameter training (train/full_model.h): the gradient of every tensor of the
// decoder against central finite differences of the loss computed by the independent
// float64 reference forward pass, on tiny generated models with each decoder feature on
// and off; the f32 training copy against the file it came from; optimizer steps that must
// lower the loss; and MoE models refused with a clear error.
//
// The differences are taken along one random unit direction per tensor: in float64 they
// stay exact even for the small derivatives of large tensors, where differences of the f32
// training loss would drown in its rounding.
#include <gtest/gtest.h>

#include "formats/gguf.h"
#include "support/reference_forward.h"
#include "support/train_test_models.h"
#include "train/full_model.h"
#include "train/optimizer.h"
#include "train/train_model.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

using namespace test_models;
using nlohmann::json;

// The feature variants full training supports (MoE is refused, tested below).
std::vector<Variant> dense_variants() {
  auto no_moe = [](std::function<void(json&)> edit) {
    return [edit](json& j) {
      j["enable_moe_block"] = false;
      if (edit) edit(j);
    };
  };
  return {
      {"tiny_all", "tiny-all", no_moe(nullptr)},  // PLE, KV sharing, K=V, soft-cap, double-wide MLP
      {"tiny_e", "tiny-e", nullptr},
      {"tiny_all_no_ple", "tiny-all", no_moe(set("hidden_size_per_layer_input", 0))},
      {"tiny_all_own_kv", "tiny-all", no_moe([](json& j) {  // every layer its own K and V
         j["num_kv_shared_layers"] = 0;
         j["attention_k_eq_v"] = false;
       })},
  };
}

// Mean cross-entropy of the targets under the float64 reference forward pass
// (tests/support/reference_forward.h, which shares no code with the engine).
double reference_loss(const GgufFile& file, const test::ReferenceOverrides& overrides,
                      const std::vector<int32_t>& tokens, const std::vector<int32_t>& targets) {
  const test::ReferenceModel reference(file, overrides);
  const auto logits = reference.forward(tokens);
  double sum = 0;
  int n = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (targets[t] == kIgnoreTarget) continue;
    const std::vector<double>& z = logits[t];
    const double mx = *std::max_element(z.begin(), z.end());
    double e = 0;
    for (double v : z) e += std::exp(v - mx);
    sum += mx + std::log(e) - z[static_cast<size_t>(targets[t])];
    ++n;
  }
  return sum / n;
}

class FullGrad : public ::testing::TestWithParam<Variant> {};

// The training pass's gradient of every tensor, dotted with a random unit direction,
// against the central difference of the float64 reference loss along that direction.
TEST_P(FullGrad, EveryTensorsGradientMatchesTheReferenceLoss) {
  auto built = build(GetParam());
  auto full = FullModel::copy_of(*built->model);
  const Model& model = full->model();
  const auto file = GgufFile::open(model.path);
  const int n = model.config.sliding_window + 4;  // sliding layers cross their window
  auto tokens = random_tokens(n, model.config.vocab_size, 22);
  auto targets = next_token_targets(tokens);
  targets[3] = kIgnoreTarget;  // a masked position in the middle
  ThreadPool pool(2);
  full->zero_grad();
  const LossResult base = full_training_gradients(*full, tokens, targets, {}, pool);
  EXPECT_EQ(base.n_targets, n - 2);
  EXPECT_NEAR(base.mean(), reference_loss(*file, {}, tokens, targets), 1e-4);

  std::mt19937 rng(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  double worst = 0;
  std::string worst_name;
  for (const FullModel::Param& p : full->params()) {
    std::vector<double> dir(p.value->size());
    double norm = 0;
    for (double& d : dir) {
      d = normal(rng);
      norm += d * d;
    }
    double analytic = 0;
    for (size_t i = 0; i < dir.size(); ++i) analytic += p.grad[i] * (dir[i] /= std::sqrt(norm));
    const double eps = 1e-2;
    auto moved = [&](double step) {
      std::vector<float> values(p.value->size());
      for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((*p.value)[i] + step * dir[i]);
      return reference_loss(*file, {{p.name, &values}}, tokens, targets);
    };
    const double numeric = (moved(eps) - moved(-eps)) / (2 * eps);
    double g2 = 0;
    for (float g : p.grad) g2 += static_cast<double>(g) * g;
    EXPECT_GT(g2, 0.0) << p.name << " got no gradient";
    const double err = std::abs(numeric - analytic) / (std::abs(numeric) + 1e-7);
    if (err > worst) {
      worst = err;
      worst_name = p.name + " analytic " + std::to_string(analytic) + " numeric " + std::to_string(numeric);
    }
  }
  std::printf("  %-28s %zu tensors, loss %.4f, worst relative error %.3g (%s)\n", GetParam().name.c_str(),
              full->params().size(), base.mean(), worst, worst_name.c_str());
  EXPECT_LT(worst, 2e-2);
}

INSTANTIATE_TEST_SUITE_P(FullGrad, FullGrad, ::testing::ValuesIn(dense_variants()),
                         [](const auto& info) { return info.param.name; });

TEST(FullModel, CopyComputesWhatTheFileComputes) {
  auto built = build({"tiny_e", "tiny-e", nullptr});
  auto full = FullModel::copy_of(*built->model);
  ThreadPool pool(2);
  const auto tokens = random_tokens(20, built->model->config.vocab_size, 3);
  // Same numbers (the file is F32), so the same logits bit for bit.
  EXPECT_EQ(training_logits(*built->model, nullptr, tokens, pool), training_logits(full->model(), nullptr, tokens, pool));
  // Every manifest tensor but the derived rope_freqs is a parameter.
  EXPECT_EQ(full->params().size() + 1, tensor_manifest(built->model->config).size());
}

TEST(FullModel, RandomInitEqualsTheGeneratorsFile) {
  auto built = build({"tiny_e", "tiny-e", nullptr});  // seed 23, F32
  auto random = FullModel::random(built->model->config, 23, "random");
  auto copy = FullModel::copy_of(*built->model);
  ASSERT_EQ(random->params().size(), copy->params().size());
  for (size_t k = 0; k < copy->params().size(); ++k)
    EXPECT_EQ(*random->params()[k].value, *copy->params()[k].value) << copy->params()[k].name;
}

TEST(FullModel, MoeModelsAreRefused) {
  auto built = build({"tiny_moe", "tiny-moe", nullptr});
  try {
    FullModel::copy_of(*built->model);
    FAIL() << "a MoE model was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MoE"), std::string::npos) << e.what();
  }
}

TEST(FullModel, AdamWStepsLowerTheLossOfARepeatedSequence) {
  auto built = build({"tiny_all", "tiny-all", set("enable_moe_block", false)});
  auto full = FullModel::copy_of(*built->model);
  ThreadPool pool(2);
  const auto tokens = random_tokens(24, full->model().config.vocab_size, 8);
  const auto targets = next_token_targets(tokens);
  AdamW adam({.lr = 3e-3});
  const double first = training_loss(full->model(), nullptr, tokens, targets, {.training = false}, pool).mean();
  for (int step = 0; step < 15; ++step) {
    full->zero_grad();
    full_training_gradients(*full, tokens, targets, {}, pool);
    adam.step(full->parameters());
    full->sync_after_update();
  }
  const double last = training_loss(full->model(), nullptr, tokens, targets, {.training = false}, pool).mean();
  std::printf("  loss %.4f -> %.4f\n", first, last);
  EXPECT_LT(last, 0.2 * first);
}

}  // namespace
}  // namespace facet::train
