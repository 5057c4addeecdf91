// apply_penalties against the formulas written out by hand (llama.cpp's penalties sampler,
// OpenAI's presence/frequency definitions, logit_bias), on small logit vectors.
#include <gtest/gtest.h>

#include <vector>

#include "sampling/penalties.h"
#include "util/error.h"

namespace facet {
namespace {

std::vector<float> run(const SamplingOptions& o, std::vector<int32_t> prompt, std::vector<int32_t> generated,
                       std::vector<float> logits) {
  apply_penalties(o, prompt, generated, logits);
  return logits;
}

TEST(Penalties, RepeatPenaltyDividesPositiveAndMultipliesNegativeOncePerDistinctToken) {
  SamplingOptions o;
  o.repeat_penalty = 2.0;
  // Token 1 (logit 4) occurs three times, token 2 (logit -3) once; 0 and 3 never.
  const auto out = run(o, {1, 2}, {1, 1}, {1.0f, 4.0f, -3.0f, 5.0f});
  EXPECT_EQ(out, (std::vector<float>{1.0f, 2.0f, -6.0f, 5.0f}));
}

TEST(Penalties, PresenceOnceAndFrequencyPerOccurrence) {
  SamplingOptions o;
  o.presence_penalty = 0.5;
  o.frequency_penalty = 0.25;
  // Token 0 occurs twice: 3 - (2 * 0.25 + 0.5) = 2; token 2 once: -1 - (0.25 + 0.5) = -1.75.
  const auto out = run(o, {}, {0, 2, 0}, {3.0f, 1.0f, -1.0f});
  EXPECT_EQ(out, (std::vector<float>{2.0f, 1.0f, -1.75f}));
}

TEST(Penalties, RepeatThenPresenceAndFrequencyInLlamaCppOrder) {
  SamplingOptions o;
  o.repeat_penalty = 1.25;
  o.presence_penalty = 1.0;
  o.frequency_penalty = 0.5;
  // Token 0 (logit 5, twice): 5 / 1.25 - (2 * 0.5 + 1) = 2.
  const auto out = run(o, {0}, {0}, {5.0f, 0.0f});
  EXPECT_FLOAT_EQ(out[0], 2.0f);
  EXPECT_EQ(out[1], 0.0f);
}

TEST(Penalties, WindowIsTheLastNTokensOfPromptAndAnswer) {
  SamplingOptions o;
  o.frequency_penalty = 1.0;
  o.repeat_last_n = 3;
  // Sequence 0 1 | 2 0 -> the window is 1 2 0: each once (the first 0 is out of it).
  EXPECT_EQ(run(o, {0, 1}, {2, 0}, {0, 0, 0, 0}), (std::vector<float>{-1, -1, -1, 0}));
  // Window larger than the answer reaches into the prompt's end only.
  o.repeat_last_n = 2;
  EXPECT_EQ(run(o, {3, 1}, {2}, {0, 0, 0, 0}), (std::vector<float>{0, -1, -1, 0}));
  // -1: the whole sequence; 0: nothing.
  o.repeat_last_n = -1;
  EXPECT_EQ(run(o, {0, 1}, {2, 0}, {0, 0, 0, 0}), (std::vector<float>{-2, -1, -1, 0}));
  o.repeat_last_n = 0;
  EXPECT_EQ(run(o, {0, 1}, {2, 0}, {0, 0, 0, 0}), (std::vector<float>{0, 0, 0, 0}));
}

TEST(Penalties, LogitBiasAddsAndIgnoresIdsOutsideTheLogits) {
  SamplingOptions o;
  o.logit_bias = {{1, -100.0f}, {2, 2.5f}, {7, 3.0f}};
  EXPECT_EQ(run(o, {}, {}, {1, 1, 1}), (std::vector<float>{1, -99, 3.5f}));
  EXPECT_TRUE(has_logit_adjustments(o));
}

TEST(Penalties, DefaultsChangeNothing) {
  SamplingOptions o;
  EXPECT_FALSE(has_logit_adjustments(o));
  EXPECT_EQ(run(o, {0, 1}, {1}, {1, 2, 3}), (std::vector<float>{1, 2, 3}));
  // Ids outside the vocabulary in the history are skipped, not written.
  o.frequency_penalty = 1;
  EXPECT_EQ(run(o, {5, -1}, {1}, {1, 2, 3}), (std::vector<float>{1, 1, 3}));
}

TEST(Penalties, InvalidOptionsAreRejected) {
  SamplingOptions o;
  o.repeat_penalty = 0;
  EXPECT_THROW(validate(o), Error);
  o = {};
  o.repeat_last_n = -2;
  EXPECT_THROW(validate(o), Error);
  o = {};
  o.logit_bias = {{-3, 1.0f}};
  EXPECT_THROW(validate(o), Error);
}

}  // namespace
}  // namespace facet
