// SFT sequence packing (`--packing`): a packed sequence computes for each of its examples
// exactly what that example computes alone (losses and LoRA gradients; block-diagonal
// attention, sliding windows inside each example, RoPE restarting at 0, KV-shared layers
// included), a packed training step equals the unpacked step over the same examples, and
// the first-fit packer keeps every example once, whole, within the capacity.
//
// The reference for the packed pass is the unpacked pass over each example on its own,
// which the other train tests check against the inference forward and finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "support/train_test_models.h"
#include "train/packing.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

using namespace test_models;

// An adapter with B != 0, so that the A matrices get gradients too.
LoraModel nonzero_lora(const Model& model) {
  LoraModel lora = make_lora(model, LoraConfig{.rank = 4, .alpha = 8}, 7);
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (auto& [param, grad] : lora.parameters())
    for (float& p : *param)
      if (p == 0.0f) p = normal(rng);
  return lora;
}

SftExample example(int length, int vocab, uint32_t seed, int64_t line) {
  SftExample ex;
  ex.tokens = random_tokens(length, vocab, seed);  // <bos> first, as loaded rows are
  ex.trained.assign(ex.tokens.size(), 1);
  ex.trained[0] = 0;
  for (size_t t = 1; t < ex.trained.size(); t += 5) ex.trained[t] = 0;  // some "prompt" tokens
  ex.line = line;
  return ex;
}

SftExample concatenate(const std::vector<SftExample>& parts) {
  SftExample packed;
  for (const SftExample& ex : parts) {
    packed.tokens.insert(packed.tokens.end(), ex.tokens.begin(), ex.tokens.end());
    packed.trained.insert(packed.trained.end(), ex.trained.begin(), ex.trained.end());
    packed.segments.push_back(static_cast<int64_t>(ex.tokens.size()));
  }
  return packed;
}

// max |got - want| / max |want| over all LoRA gradients.
double relative_gradient_error(LoraModel& got, LoraModel& want) {
  auto g = got.parameters(), w = want.parameters();
  double worst = 0, scale = 0;
  for (size_t k = 0; k < g.size(); ++k)
    for (size_t i = 0; i < g[k].second->size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::abs((*g[k].second)[i] - (*w[k].second)[i])));
      scale = std::max(scale, static_cast<double>(std::abs((*w[k].second)[i])));
    }
  EXPECT_GT(scale, 0);
  return worst / scale;
}

class PackedPass : public ::testing::TestWithParam<Variant> {};

TEST_P(PackedPass, EachExampleComputesWhatItComputesAlone) {
  auto built = build(GetParam());
  const Model& model = *built->model;
  const int window = model.config.sliding_window;
  ASSERT_GT(model.config.n_kv_shared_layers, 0);
  // Two examples longer than the sliding window (so the window, not the example start,
  // bounds some queries) and a short one.
  const std::vector<SftExample> parts = {example(window + 7, model.config.vocab_size, 1, 1),
                                         example(2 * window - 3, model.config.vocab_size, 2, 2),
                                         example(5, model.config.vocab_size, 3, 3)};
  const SftExample packed = concatenate(parts);
  ThreadPool pool(2);
  const LoraModel start = nonzero_lora(model);
  PassOptions pass;
  pass.grad_scale = 1.0;  // gradients of the summed loss, comparable across the two runs

  // The packed targets are the examples' own targets side by side: the last token of an
  // example does not predict the next example's <bos>.
  std::vector<int32_t> joined_targets;
  for (const SftExample& ex : parts) {
    const auto t = ex.targets();
    joined_targets.insert(joined_targets.end(), t.begin(), t.end());
  }
  ASSERT_EQ(packed.targets(), joined_targets);

  LoraModel alone = start;
  alone.zero_grad();
  std::vector<LossResult> alone_loss;
  int64_t alone_targets = 0;
  for (const SftExample& ex : parts) {
    alone_loss.push_back(training_gradients(model, alone, ex.tokens, ex.targets(), pass, pool));
    alone_targets += ex.n_targets();
  }
  EXPECT_EQ(packed.n_targets(), alone_targets);

  LoraModel together = start;
  together.zero_grad();
  PassOptions packed_pass = pass;
  packed_pass.segments = packed.segments;
  const LossResult sum = training_gradients(model, together, packed.tokens, packed.targets(), packed_pass, pool);
  EXPECT_EQ(sum.n_targets, alone_targets);
  EXPECT_LE(relative_gradient_error(together, alone), 1e-5);

  // Each example's loss read out of the packed sequence alone (targets of the others
  // ignored), and the same without the segment boundaries, which must differ for the
  // later examples by well over the tolerance: the comparison would notice a missing mask.
  // (The random tiny models predict almost uniformly, so the difference is small in
  // relative terms, but still 10x the tolerance.)
  size_t offset = 0;
  double summed = 0;
  for (size_t e = 0; e < parts.size(); ++e) {
    std::vector<int32_t> only(packed.tokens.size(), kIgnoreTarget);
    const auto own = parts[e].targets();
    std::copy(own.begin(), own.end(), only.begin() + static_cast<std::ptrdiff_t>(offset));
    const LossResult got = training_loss(model, &start, packed.tokens, only, packed_pass, pool);
    EXPECT_EQ(got.n_targets, alone_loss[e].n_targets);
    EXPECT_NEAR(got.loss_sum, alone_loss[e].loss_sum, 1e-5 * alone_loss[e].loss_sum) << "example " << e;
    summed += alone_loss[e].loss_sum;
    if (e > 0) {
      const LossResult unmasked = training_loss(model, &start, packed.tokens, only, pass, pool);
      EXPECT_GT(std::abs(unmasked.loss_sum - alone_loss[e].loss_sum), 1e-4 * alone_loss[e].loss_sum)
          << "example " << e;
    }
    offset += parts[e].tokens.size();
  }
  EXPECT_NEAR(sum.loss_sum, summed, 1e-5 * summed);
}

INSTANTIATE_TEST_SUITE_P(TrainPacking, PackedPass,
                         ::testing::Values(Variant{"tiny_all", "tiny-all", nullptr}, Variant{"tiny_e", "tiny-e", nullptr},
                                           Variant{"tiny_all_no_k_eq_v", "tiny-all", set("attention_k_eq_v", false)}),
                         [](const auto& info) { return info.param.name; });

TEST(TrainPacking, PackedStepEqualsTheUnpackedStepOverTheSameExamples) {
  auto built = build({"tiny_all", "tiny-all", nullptr});
  const Model& model = *built->model;
  ThreadPool pool(2);
  std::vector<SftExample> data;
  for (int i = 0; i < 6; ++i) data.push_back(example(9 + 4 * i, model.config.vocab_size, 40 + i, i + 1));
  PackReport report;
  const auto packed = pack_sft_examples(data, 48, 5, &report);
  ASSERT_GT(packed.size(), 1u);
  ASSERT_LT(packed.size(), data.size());

  // One step whose window is all the data, unpacked and packed: the loss is averaged over
  // the same trained tokens, so loss, token counts and gradients agree.
  auto one_step = [&](const std::vector<SftExample>& examples, LoraModel& lora) {
    TrainerOptions options;
    options.batch_size = 1;
    options.grad_accum = static_cast<int>(examples.size());
    options.max_steps = 1;
    options.max_grad_norm = 0;
    Trainer trainer(model, lora, options, pool);
    trainer.set_data(examples, {});
    return trainer.train_step();  // the gradients stay in lora after the update
  };
  const LoraModel start = nonzero_lora(model);
  LoraModel plain = start, pack = start;
  const StepRecord a = one_step(data, plain);
  const StepRecord b = one_step(packed, pack);
  EXPECT_EQ(b.target_tokens, a.target_tokens);
  EXPECT_EQ(b.tokens, a.tokens);
  EXPECT_NEAR(b.loss, a.loss, 1e-5 * a.loss);
  EXPECT_NEAR(b.grad_norm, a.grad_norm, 1e-5 * a.grad_norm);
  EXPECT_LE(relative_gradient_error(pack, plain), 1e-5);
}

TEST(TrainPacking, FirstFitRespectsTheCapacityAndKeepsEveryExampleOnce) {
  const int64_t capacity = 50;
  std::mt19937 rng(3);
  std::vector<SftExample> data;
  int64_t trained_in = 0, tokens_in = 0;
  for (int i = 0; i < 300; ++i) {
    data.push_back(example(2 + static_cast<int>(rng() % (capacity - 1)), 512, 100 + i, i + 1));
    trained_in += data.back().n_targets();
    tokens_in += static_cast<int64_t>(data.back().tokens.size());
  }
  const std::map<int64_t, SftExample> by_line = [&] {
    std::map<int64_t, SftExample> m;
    for (const SftExample& ex : data) m[ex.line] = ex;
    return m;
  }();
  PackReport report;
  const auto packed = pack_sft_examples(data, capacity, 11, &report);
  EXPECT_EQ(report.examples, 300);
  EXPECT_EQ(report.sequences, static_cast<int64_t>(packed.size()));
  EXPECT_EQ(report.tokens, tokens_in);
  // No sequence could have been saved: fewer than total/capacity + 1 is impossible, and
  // first-fit leaves at most one sequence half empty or emptier.
  EXPECT_GE(static_cast<int64_t>(packed.size()), (tokens_in + capacity - 1) / capacity);
  int half_empty = 0;
  int64_t trained_out = 0;
  std::map<int64_t, int> seen;
  for (const SftExample& seq : packed) {
    ASSERT_LE(static_cast<int64_t>(seq.tokens.size()), capacity);
    ASSERT_EQ(seq.trained.size(), seq.tokens.size());
    half_empty += static_cast<int64_t>(seq.tokens.size()) * 2 <= capacity;
    trained_out += seq.n_targets();
    // Cut the sequence back into its examples: each must be an input example, unchanged.
    size_t at = 0;
    for (int64_t length : seq.segments) {
      const std::vector<int32_t> tokens(seq.tokens.begin() + static_cast<std::ptrdiff_t>(at),
                                        seq.tokens.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(length)));
      const std::vector<uint8_t> trained(seq.trained.begin() + static_cast<std::ptrdiff_t>(at),
                                         seq.trained.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(length)));
      bool found = false;
      for (const auto& [line, ex] : by_line)
        if (ex.tokens == tokens && ex.trained == trained) {
          ++seen[line];
          found = true;
          break;
        }
      EXPECT_TRUE(found) << "a packed segment of " << length << " tokens is no input example";
      at += static_cast<size_t>(length);
    }
    EXPECT_EQ(at, seq.tokens.size());
  }
  EXPECT_LE(half_empty, 1);
  EXPECT_EQ(trained_out, trained_in);
  EXPECT_EQ(seen.size(), by_line.size());
  for (const auto& [line, count] : seen) EXPECT_EQ(count, 1) << "line " << line;
}

TEST(TrainPacking, EqualLengthsFillEverySequence) {
  // 30 examples of 7 tokens, capacity 20: two fit per sequence (14 tokens), so 15.
  std::vector<SftExample> data;
  for (int i = 0; i < 30; ++i) data.push_back(example(7, 512, 200 + i, i + 1));
  PackReport report;
  const auto packed = pack_sft_examples(data, 20, 1, &report);
  EXPECT_EQ(packed.size(), 15u);
  for (const SftExample& seq : packed) EXPECT_EQ(seq.segments, (std::vector<int64_t>{7, 7}));
  EXPECT_EQ(report.summary(), "packed 30 examples into 15 sequences of at most 20 tokens (70% full)");
}

TEST(TrainPacking, BadInputIsAClearError) {
  std::vector<SftExample> data = {example(30, 512, 1, 4)};
  try {
    pack_sft_examples(data, 20, 1);
    FAIL() << "an example over the capacity was packed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 4"), std::string::npos) << e.what();
  }
  // Segment lengths that do not add up to the sequence are refused by the training pass.
  auto built = build({"tiny_e", "tiny-e", nullptr});
  ThreadPool pool(1);
  const SftExample ex = example(10, built->model->config.vocab_size, 2, 1);
  PassOptions pass;
  for (std::vector<int64_t> bad : {std::vector<int64_t>{4, 5}, std::vector<int64_t>{10, 0}, std::vector<int64_t>{-1, 11}}) {
    pass.segments = bad;
    EXPECT_THROW(training_loss(*built->model, nullptr, ex.tokens, ex.targets(), pass, pool), Error);
  }
}

}  // namespace
}  // namespace facet::train
