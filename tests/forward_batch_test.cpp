// forward_batch: one step for several sequences (decode steps and prompt chunks mixed,
// each on its own cache) gives, for every sequence, the logits forward() gives it alone
// and the shared float64 golden logits; the caches it leaves behind continue correctly.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/forward.h"
#include "support/golden_logits.h"
#include "support/paths.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

using test::Golden;
using test::load_golden;

// The golden logits of position `pos`, or nullptr where the file has none.
const std::vector<double>* golden_at(const Golden& g, size_t pos) {
  if (pos < g.logits.size()) return &g.logits[pos];
  if (pos + 1 == g.tokens.size() && !g.last_logits.empty()) return &g.last_logits;
  return nullptr;
}

double max_abs_diff(const float* got, const float* want, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::abs(static_cast<double>(got[i]) - want[i]));
  return m;
}
double max_abs_diff(const float* got, const std::vector<double>& want) {
  double m = 0;
  for (size_t i = 0; i < want.size(); ++i) m = std::max(m, std::abs(static_cast<double>(got[i]) - want[i]));
  return m;
}

class ForwardBatch : public ::testing::TestWithParam<const char*> {};

TEST_P(ForwardBatch, EachSequenceGetsItsLoneForwardAndGoldenLogits) {
  const std::string name = GetParam();
  auto model = load_model(test::data_dir() + "/models/" + name + ".gguf");
  const Golden g = load_golden(name);
  const std::vector<int32_t>& T = g.tokens;
  ASSERT_GE(T.size(), 15u);
  ThreadPool pool(2);
  const size_t V = static_cast<size_t>(model->config.vocab_size);

  // Three sequences over the golden tokens, each at its own point: already holding
  // `cached` tokens, then running the [from, to) ranges of each step in one batch.
  struct Plan {
    size_t cached;
    std::vector<std::pair<size_t, size_t>> steps;
  };
  const size_t n = T.size();
  const std::vector<Plan> plans = {
      {10, {{10, 11}, {11, n}}},       // a decode step, then the rest of the prompt
      {0, {{0, 7}, {7, 8}}},           // a prompt chunk from empty, then a decode step
      {3, {{3, 12}, {12, 14}}},        // a chunk longer than the 8-token sliding window, then two
  };
  std::vector<std::unique_ptr<KvCache>> batched, alone;
  for (const Plan& p : plans) {
    batched.push_back(std::make_unique<KvCache>(model->config, 64));
    alone.push_back(std::make_unique<KvCache>(model->config, 64));
    if (p.cached > 0) {
      const std::vector<int32_t> prefix(T.begin(), T.begin() + static_cast<long>(p.cached));
      forward(*model, *batched.back(), prefix, LogitsFor::LastToken, pool);
      forward(*model, *alone.back(), prefix, LogitsFor::LastToken, pool);
    }
  }
  double worst_vs_alone = 0, worst_vs_golden = 0;
  int golden_checks = 0;
  for (size_t step = 0; step < 2; ++step) {
    std::vector<BatchSequence> batch;
    for (size_t i = 0; i < plans.size(); ++i) {
      const auto [from, to] = plans[i].steps[step];
      batch.push_back({batched[i].get(), std::span<const int32_t>(T.data() + from, to - from)});
    }
    const std::vector<float> logits = forward_batch(*model, batch, pool);
    ASSERT_EQ(logits.size(), plans.size() * V);
    for (size_t i = 0; i < plans.size(); ++i) {
      const auto [from, to] = plans[i].steps[step];
      const std::vector<int32_t> part(T.begin() + static_cast<long>(from), T.begin() + static_cast<long>(to));
      const std::vector<float> want = forward(*model, *alone[i], part, LogitsFor::LastToken, pool);
      EXPECT_EQ(batched[i]->n_past(), static_cast<int64_t>(to));
      worst_vs_alone = std::max(worst_vs_alone, max_abs_diff(&logits[i * V], want.data(), V));
      if (const auto* golden = golden_at(g, to - 1)) {
        worst_vs_golden = std::max(worst_vs_golden, max_abs_diff(&logits[i * V], *golden));
        ++golden_checks;
      }
    }
  }
  std::printf("  %s: batched vs alone max |delta| = %.3g, vs golden %.3g (%d rows)\n", name.c_str(),
              worst_vs_alone, worst_vs_golden, golden_checks);
  EXPECT_LE(worst_vs_alone, 1e-5);
  EXPECT_GT(golden_checks, 0);
  EXPECT_LE(worst_vs_golden, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(SharedModels, ForwardBatch,
                         ::testing::Values("gemma4-tiny-e2b-like-f32", "gemma4-tiny-moe-f32",
                                           "gemma4-tiny-realvocab-f16"));

TEST(ForwardBatchErrors, BadInputTouchesNoCache) {
  auto model = load_model(test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf");
  ThreadPool pool(1);
  KvCache a(model->config, 16), b(model->config, 16);
  const std::vector<int32_t> ok = {2, 10, 11}, bad = {2, -4}, too_long(17, 3), empty;
  EXPECT_THROW(forward_batch(*model, {{&a, ok}, {&b, bad}}, pool), Error);
  EXPECT_THROW(forward_batch(*model, {{&a, ok}, {&b, too_long}}, pool), Error);
  EXPECT_THROW(forward_batch(*model, {{&a, ok}, {&b, empty}}, pool), Error);
  EXPECT_THROW(forward_batch(*model, {{&a, ok}, {&a, ok}}, pool), Error);
  EXPECT_THROW(forward_batch(*model, {}, pool), Error);
  EXPECT_EQ(a.n_past(), 0);
  EXPECT_EQ(b.n_past(), 0);
}

}  // namespace
}  // namespace facet
