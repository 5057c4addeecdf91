// The forward pass against the shared golden logits (float64 reference, spec-derived),
// in one batch, token by token and in uneven chunks. Requirement: max |Δ| <= 1e-4.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/forward.h"
#include "support/golden_logits.h"
#include "support/paths.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

using test::Golden;
using test::load_golden;

double max_abs_diff(const float* got, const std::vector<double>& want) {
  double m = 0;
  for (size_t i = 0; i < want.size(); ++i) m = std::max(m, std::abs(static_cast<double>(got[i]) - want[i]));
  return m;
}

// Runs the tokens through a fresh cache in chunks of the given sizes (cycled).
std::vector<float> run_chunked(const Model& model, const std::vector<int32_t>& tokens,
                               const std::vector<int64_t>& chunks, ThreadPool& pool) {
  KvCache cache(model.config, 256);
  std::vector<float> all;
  size_t at = 0, c = 0;
  while (at < tokens.size()) {
    size_t n = std::min<size_t>(static_cast<size_t>(chunks[c++ % chunks.size()]), tokens.size() - at);
    std::vector<int32_t> part(tokens.begin() + static_cast<long>(at), tokens.begin() + static_cast<long>(at + n));
    auto logits = forward(model, cache, part, LogitsFor::AllTokens, pool);
    all.insert(all.end(), logits.begin(), logits.end());
    at += n;
  }
  return all;
}

class ForwardGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(ForwardGolden, MatchesFloat64LogitsInEveryBatchingMode) {
  const std::string name = GetParam();
  auto model = load_model(test::data_dir() + "/models/" + name + ".gguf");
  Golden g = load_golden(name);
  ThreadPool pool(2);
  const int64_t V = model->config.vocab_size;
  const std::vector<std::vector<int64_t>> modes = {{1000}, {1}, {5, 3, 7}, {9}};
  for (const auto& mode : modes) {
    auto logits = run_chunked(*model, g.tokens, mode, pool);
    ASSERT_EQ(logits.size(), g.tokens.size() * static_cast<size_t>(V));
    double worst = 0;
    for (size_t t = 0; t < g.logits.size(); ++t)
      worst = std::max(worst, max_abs_diff(&logits[t * static_cast<size_t>(V)], g.logits[t]));
    if (!g.last_logits.empty())
      worst = std::max(worst, max_abs_diff(&logits[(g.tokens.size() - 1) * static_cast<size_t>(V)], g.last_logits));
    RecordProperty("max_abs_diff_chunk_" + std::to_string(mode[0]), std::to_string(worst));
    std::printf("  %s chunks %lld...: max |delta| = %.3g\n", name.c_str(), static_cast<long long>(mode[0]), worst);
    EXPECT_LE(worst, 1e-4) << "chunk mode starting " << mode[0];
  }
}

INSTANTIATE_TEST_SUITE_P(SharedModels, ForwardGolden,
                         ::testing::Values("gemma4-tiny-e2b-like-f32", "gemma4-tiny-moe-f32",
                                           "gemma4-tiny-realvocab-f16"));

TEST(ForwardGolden, LastTokenLogitsEqualTheLastRowOfAllLogits) {
  auto model = load_model(test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf");
  Golden g = load_golden("gemma4-tiny-moe-f32");
  ThreadPool pool(2);
  KvCache a(model->config, 64), b(model->config, 64);
  auto all = forward(*model, a, g.tokens, LogitsFor::AllTokens, pool);
  auto last = forward(*model, b, g.tokens, LogitsFor::LastToken, pool);
  const size_t V = static_cast<size_t>(model->config.vocab_size);
  ASSERT_EQ(last.size(), V);
  for (size_t i = 0; i < V; ++i) EXPECT_EQ(last[i], all[(g.tokens.size() - 1) * V + i]);
}

}  // namespace
}  // namespace facet
