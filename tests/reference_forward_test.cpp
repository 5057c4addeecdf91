// Validates the float64 reference forward pass (tests/support/reference_forward.*) against
// the golden logits of an independent float64 implementation of the spec
// (shared/data/models/*.golden.json). The reference is then the oracle for the engine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "support/paths.h"
#include "support/reference_forward.h"

namespace facet::test {
namespace {

std::string model_path(const std::string& name) { return data_dir() + "/models/" + name; }

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return nlohmann::json::parse(in);
}

// Runs the reference on the golden tokens and returns max |Δ| over all logits.
double max_logit_error(const std::string& model) {
  const nlohmann::json golden = read_json(model_path(model + ".golden.json"));
  const auto file = GgufFile::open(model_path(model + ".gguf"));
  const auto tokens = golden.at("tokens").get<std::vector<int32_t>>();
  const auto expected = golden.at("logits").get<std::vector<std::vector<double>>>();
  const auto logits = reference_logits(*file, tokens);
  EXPECT_EQ(logits.size(), expected.size());
  double max_err = 0;
  for (size_t t = 0; t < std::min(logits.size(), expected.size()); ++t) {
    EXPECT_EQ(logits[t].size(), expected[t].size());
    for (size_t v = 0; v < std::min(logits[t].size(), expected[t].size()); ++v)
      max_err = std::max(max_err, std::abs(logits[t][v] - expected[t][v]));
  }
  return max_err;
}

TEST(ReferenceForward, MatchesGoldenE2bLike) {
  const double err = max_logit_error("gemma4-tiny-e2b-like-f32");
  RecordProperty("max_abs_diff", std::to_string(err));
  std::printf("e2b-like max |delta logit| = %.3g\n", err);
  EXPECT_LT(err, 1e-9);
}

TEST(ReferenceForward, MatchesGoldenMoe) {
  const double err = max_logit_error("gemma4-tiny-moe-f32");
  RecordProperty("max_abs_diff", std::to_string(err));
  std::printf("moe max |delta logit| = %.3g\n", err);
  EXPECT_LT(err, 1e-9);
}

TEST(ReferenceForward, DerivesConfigFromMetadata) {
  const auto file = GgufFile::open(model_path("gemma4-tiny-e2b-like-f32.gguf"));
  const ReferenceModel model(*file);
  const ReferenceConfig& c = model.config();
  EXPECT_EQ(c.n_layers, 7);
  EXPECT_EQ(c.first_shared_layer, 4);
  EXPECT_EQ(c.kv_source, (std::vector<int64_t>{0, 1, 2, 3, 2, 2, 3}));  // §5 same-kind rule
  EXPECT_EQ(c.ffn_width, (std::vector<int64_t>{256, 256, 256, 256, 512, 512, 512}));
  // Full layers: D = 64, R = floor(0.25·64/2) = 8 rotated pairs, exponent over D = 64.
  ASSERT_EQ(c.inv_freq_full.size(), 32u);
  for (size_t i = 0; i < 32; ++i) {
    if (i < 8)
      EXPECT_DOUBLE_EQ(c.inv_freq_full[i], std::pow(1e6, -2.0 * double(i) / 64.0));
    else
      EXPECT_EQ(c.inv_freq_full[i], 0.0);
  }
  ASSERT_EQ(c.inv_freq_sliding.size(), 16u);
  for (double f : c.inv_freq_sliding) EXPECT_GT(f, 0.0);  // sliding: every pair rotates
}

// Causality: the logits of a prefix equal the first rows of the whole sequence's logits,
// which is what an engine's prefill-then-decode must reproduce. The prefix crosses the
// window (W = 8) and the KV-shared layers.
TEST(ReferenceForward, PrefixLogitsMatchWholeSequence) {
  const auto file = GgufFile::open(model_path("gemma4-tiny-e2b-like-f32.gguf"));
  const ReferenceModel model(*file);
  const std::vector<int32_t> tokens = {2, 313, 333, 330, 425, 429, 430, 435, 438, 358, 442, 445};
  ReferenceTrace trace;
  const auto whole = model.forward(tokens, &trace);
  EXPECT_EQ(trace.layer_out.size(), 7u);
  EXPECT_EQ(trace.ple.size(), tokens.size());
  EXPECT_EQ(trace.final_norm.size(), tokens.size());
  for (size_t n : {1u, 8u, 9u}) {
    const auto prefix = model.forward(std::vector<int32_t>(tokens.begin(), tokens.begin() + n));
    ASSERT_EQ(prefix.size(), n);
    for (size_t t = 0; t < n; ++t)
      for (size_t v = 0; v < prefix[t].size(); ++v)
        ASSERT_NEAR(prefix[t][v], whole[t][v], 1e-12) << "prefix " << n << " position " << t;
  }
}

// 262144-token vocabulary in F16: the golden keeps top-10 (rounded to 7 decimals) per
// position and the full logits of the last position.
TEST(ReferenceForward, MatchesGoldenRealVocabF16) {
  const nlohmann::json golden = read_json(model_path("gemma4-tiny-realvocab-f16.golden.json"));
  const auto file = GgufFile::open(model_path("gemma4-tiny-realvocab-f16.gguf"));
  const auto tokens = golden.at("tokens").get<std::vector<int32_t>>();
  const auto logits = reference_logits(*file, tokens);
  ASSERT_EQ(logits.size(), tokens.size());
  const double tol = 1e-6;  // golden values carry 7 decimals
  double max_err = 0;
  const auto& top10 = golden.at("top10");
  for (size_t t = 0; t < tokens.size(); ++t) {
    std::vector<int32_t> order(logits[t].size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + 10, order.end(),
                      [&](int32_t a, int32_t b) { return logits[t][size_t(a)] > logits[t][size_t(b)]; });
    for (size_t k = 0; k < 10; ++k) {
      const int32_t id = top10[t][k][0].get<int32_t>();
      const double value = top10[t][k][1].get<double>();
      max_err = std::max(max_err, std::abs(logits[t][size_t(id)] - value));
      EXPECT_NEAR(logits[t][size_t(order[k])], value, tol) << "position " << t << " rank " << k;
    }
    EXPECT_EQ(order[0], golden.at("argmax")[t].get<int32_t>()) << "position " << t;
  }
  const auto last = golden.at("logits_last_position").get<std::vector<double>>();
  ASSERT_EQ(last.size(), logits.back().size());
  for (size_t v = 0; v < last.size(); ++v)
    max_err = std::max(max_err, std::abs(logits.back()[v] - last[v]));
  std::printf("realvocab-f16 max |delta logit| = %.3g\n", max_err);
  EXPECT_LT(max_err, tol);
}

}  // namespace
}  // namespace facet::test
