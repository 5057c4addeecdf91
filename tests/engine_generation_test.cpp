// The generation layer: greedy output is the argmax chain of the forward pass, stop ids,
// token limit, cancel, streamed text, and KV-cache reuse across turns giving the same
// logits as running the whole sequence from scratch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/generation.h"
#include "support/gemma4_tokenizer.h"
#include "support/paths.h"
#include "util/error.h"

namespace facet {
namespace {

std::string model_path(const std::string& name) { return test::data_dir() + "/models/" + name; }

// The E2B-like tiny model: per-layer embeddings, KV sharing and a sliding window of 8, so
// cache reuse crosses ring wrap-around; its synthetic 512-token vocabulary is in the file.
struct TinyModel {
  std::unique_ptr<Model> model = load_model(model_path("gemma4-tiny-e2b-like-f32.gguf"));
  Tokenizer tokenizer = Tokenizer::from_gguf(model_path("gemma4-tiny-e2b-like-f32.gguf"));
};
const TinyModel& tiny() {
  static const TinyModel m;
  return m;
}

const std::vector<int32_t> kPrompt = {2, 313, 333, 290, 301, 277, 350, 420, 312, 260, 388};

// Logits after the last token of `tokens`, computed from an empty cache in one batch.
std::vector<float> fresh_logits(const Model& model, const std::vector<int32_t>& tokens) {
  ThreadPool pool(2);
  KvCache cache(model.config, static_cast<int64_t>(tokens.size()));
  return forward(model, cache, tokens, LogitsFor::LastToken, pool);
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

EncodeOptions with_bos() {
  EncodeOptions options;
  options.add_bos = true;
  return options;
}

GenerationOptions greedy(int64_t max_tokens) {
  GenerationOptions options;
  options.max_tokens = max_tokens;
  return options;
}

TEST(Generation, GreedyOutputIsTheArgmaxChainOfTheForwardPass) {
  Generator generator(*tiny().model, &tiny().tokenizer, 64, 2);
  GenerationResult result = generator.generate(kPrompt, greedy(10));
  ASSERT_EQ(result.tokens.size(), 10u);
  EXPECT_EQ(result.stop_reason, StopReason::MaxTokens);
  EXPECT_EQ(result.prompt_tokens, static_cast<int64_t>(kPrompt.size()));
  EXPECT_EQ(result.reused_tokens, 0);
  std::vector<int32_t> sequence = kPrompt;
  for (int32_t generated : result.tokens) {
    std::vector<float> logits = fresh_logits(*tiny().model, sequence);
    EXPECT_EQ(generated, argmax(logits.data(), static_cast<int64_t>(logits.size())));
    sequence.push_back(generated);
  }
  // The cache holds everything but the last sampled token (never run through the model).
  std::vector<int32_t> expected_cache(sequence.begin(), sequence.end() - 1);
  EXPECT_EQ(generator.cached_tokens(), expected_cache);
}

TEST(Generation, StopsAfterAStopIdWhichIsReportedButNotStreamed) {
  // Seeded sampling (the same seed gives the same run): greedy repeats the last token here.
  GenerationOptions options = greedy(12);
  options.sampling.temperature = 1.5;
  options.sampling.seed = 3;
  Generator reference(*tiny().model, &tiny().tokenizer, 64, 2);
  const std::vector<int32_t> free_run = reference.generate(kPrompt, options).tokens;
  // The first token that did not occur before it: stopping on it must end the run there.
  size_t stop_at = 1;
  while (stop_at < free_run.size() &&
         std::find(free_run.begin(), free_run.begin() + static_cast<long>(stop_at), free_run[stop_at]) !=
             free_run.begin() + static_cast<long>(stop_at))
    ++stop_at;
  ASSERT_LT(stop_at, free_run.size()) << "the run repeats one token; pick another seed";

  Generator generator(*tiny().model, &tiny().tokenizer, 64, 2);
  options.stop_ids = {free_run[stop_at]};
  std::vector<int32_t> streamed;
  GenerationResult result =
      generator.generate(kPrompt, options, [&](int32_t id, const std::string&) { streamed.push_back(id); });
  EXPECT_EQ(result.stop_reason, StopReason::StopToken);
  ASSERT_TRUE(result.stop_token.has_value());
  EXPECT_EQ(*result.stop_token, free_run[stop_at]);
  EXPECT_EQ(result.tokens, std::vector<int32_t>(free_run.begin(), free_run.begin() + static_cast<long>(stop_at) + 1));
  EXPECT_EQ(streamed, std::vector<int32_t>(free_run.begin(), free_run.begin() + static_cast<long>(stop_at)));
}

TEST(Generation, CancelFlagStopsTheRun) {
  Generator generator(*tiny().model, &tiny().tokenizer, 64, 2);
  std::atomic<bool> cancel{false};
  GenerationOptions options = greedy(50);
  options.cancel = &cancel;
  int seen = 0;
  GenerationResult result = generator.generate(kPrompt, options, [&](int32_t, const std::string&) {
    if (++seen == 3) cancel.store(true);
  });
  EXPECT_EQ(result.stop_reason, StopReason::Cancelled);
  EXPECT_EQ(result.tokens.size(), 3u);

  // Cancelled before it starts: nothing runs.
  Generator idle(*tiny().model, &tiny().tokenizer, 64, 2);
  GenerationResult none = idle.generate(kPrompt, options);
  EXPECT_EQ(none.stop_reason, StopReason::Cancelled);
  EXPECT_TRUE(none.tokens.empty());
  EXPECT_TRUE(idle.cached_tokens().empty());
}

TEST(Generation, StreamedTextIsTheDecodedOutput) {
  // The real vocabulary: random weights pick byte tokens and specials too, so characters
  // split over byte tokens must come out whole.
  const std::string path = model_path("gemma4-tiny-realvocab-f16.gguf");
  auto model = load_model(path);
  const Tokenizer& tokenizer = test::gemma4_tokenizer();
  Generator generator(*model, &tokenizer, 128, 2);
  GenerationOptions options = greedy(40);
  options.sampling.temperature = 1.0;
  options.sampling.seed = 7;
  std::string text;
  GenerationResult result = generator.generate(tokenizer.encode("Hello there", with_bos()), options,
                                               [&](int32_t, const std::string& piece) { text += piece; });
  ASSERT_EQ(result.tokens.size(), 40u);
  EXPECT_EQ(text, tokenizer.decode(result.tokens));
}

TEST(Generation, NextTurnReusesTheCacheAndGivesTheSameLogitsAsAFreshRun) {
  Generator generator(*tiny().model, &tiny().tokenizer, 128, 2);
  GenerationResult first = generator.generate(kPrompt, greedy(6));
  ASSERT_EQ(first.tokens.size(), 6u);

  // Turn 2 = turn 1 + its answer + new user tokens (longer than the sliding window).
  std::vector<int32_t> turn2 = kPrompt;
  turn2.insert(turn2.end(), first.tokens.begin(), first.tokens.end());
  turn2.insert(turn2.end(), {1, 2, 300, 301, 302, 303, 304, 305, 306, 307, 308});
  int64_t reused = -1;
  std::vector<float> logits = generator.prefill(turn2, &reused);
  EXPECT_EQ(reused, static_cast<int64_t>(kPrompt.size() + first.tokens.size() - 1));
  EXPECT_LE(max_abs_diff(logits, fresh_logits(*tiny().model, turn2)), 1e-5f);

  // Generating on from there equals generating from scratch.
  Generator scratch(*tiny().model, &tiny().tokenizer, 128, 2);
  EXPECT_EQ(generator.generate(turn2, greedy(5)).tokens, scratch.generate(turn2, greedy(5)).tokens);
}

TEST(Generation, ADivergingPromptTruncatesOrResetsTheCache) {
  Generator generator(*tiny().model, &tiny().tokenizer, 128, 2);
  generator.generate(kPrompt, greedy(4));
  const std::vector<int32_t> cached = generator.cached_tokens();

  // The same sequence again: only its last token is re-run (its logits are needed).
  int64_t reused = -1;
  std::vector<float> logits = generator.prefill(cached, &reused);
  EXPECT_EQ(reused, static_cast<int64_t>(cached.size()) - 1);
  EXPECT_LE(max_abs_diff(logits, fresh_logits(*tiny().model, cached)), 1e-5f);

  // Differs early: the sliding-window ring cannot go back that far, so all is re-run.
  std::vector<int32_t> other = cached;
  other[3] = 400;
  logits = generator.prefill(other, &reused);
  EXPECT_EQ(reused, 0);
  EXPECT_EQ(generator.cached_tokens(), other);
  EXPECT_LE(max_abs_diff(logits, fresh_logits(*tiny().model, other)), 1e-5f);
}

TEST(Generation, RewindSlackLetsAPromptDifferingWithinItReuseTheCache) {
  // 11 prompt tokens + 11 generated: the sliding window (8) has wrapped.
  for (int64_t rewind : {0, 16}) {
    SCOPED_TRACE(rewind);
    Generator generator(*tiny().model, &tiny().tokenizer, 128, 2, rewind);
    generator.generate(kPrompt, greedy(12));
    std::vector<int32_t> next = generator.cached_tokens();
    ASSERT_EQ(next.size(), 22u);
    next.resize(17);  // the last 5 cached tokens differ
    next.insert(next.end(), {301, 302, 303, 304, 305, 306});
    int64_t reused = -1;
    std::vector<float> logits = generator.prefill(next, &reused);
    EXPECT_EQ(reused, rewind == 0 ? 0 : 17);
    EXPECT_LE(max_abs_diff(logits, fresh_logits(*tiny().model, next)), 1e-5f);
  }
}

TEST(Generation, DefaultStopIdsComeFromTheVocabulary) {
  std::vector<int32_t> real = default_stop_ids(test::gemma4_tokenizer());
  std::sort(real.begin(), real.end());
  EXPECT_EQ(real, (std::vector<int32_t>{1, 106}));  // <eos>, <turn|>
  real = default_stop_ids(test::gemma4_tokenizer(), /*tools_offered=*/true);
  std::sort(real.begin(), real.end());
  EXPECT_EQ(real, (std::vector<int32_t>{1, 50, 106}));  // and <|tool_response>
  // The synthetic vocabulary has <eos> but no <turn|>.
  EXPECT_EQ(default_stop_ids(tiny().tokenizer), std::vector<int32_t>{1});
}

TEST(Generation, BadRequestsAreErrors) {
  Generator generator(*tiny().model, &tiny().tokenizer, 16, 2);
  EXPECT_THROW(generator.generate({}, greedy(4)), Error);
  EXPECT_THROW(generator.generate(std::vector<int32_t>(17, 5), greedy(4)), Error);
  EXPECT_THROW(generator.generate({2, 600}, greedy(4)), Error);  // id outside the model's 512
  GenerationOptions bad = greedy(4);
  bad.sampling.temperature = -1;
  EXPECT_THROW(generator.generate(kPrompt, bad), Error);
  // A tokenizer bigger than the model's vocabulary belongs to another model.
  EXPECT_THROW(Generator(*tiny().model, &test::gemma4_tokenizer(), 16, 2), Error);
}

TEST(Generation, StopsWhenTheContextIsFull) {
  Generator generator(*tiny().model, &tiny().tokenizer, 14, 2);
  GenerationResult result = generator.generate(kPrompt, greedy(50));
  EXPECT_EQ(result.stop_reason, StopReason::ContextFull);
  // 11 prompt tokens + 3 run = 14 positions; the 4th sampled token is never run.
  EXPECT_EQ(result.tokens.size(), 4u);
}

}  // namespace
}  // namespace facet
