// Media prompts in the continuous-batching scheduler: requests with soft tokens (and one
// without), prefilled in small chunks that split the media spans and batched together, give
// the same tokens as one Generator each (seeded sampling); a second round reuses each idle slot's
// prompt only where the same media sit at the same place.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>

#include "engine/generation.h"
#include "engine/scheduler.h"
#include "model/forward.h"
#include "util/thread_pool.h"
#include "support/paths.h"
#include "support/soft_tokens.h"

namespace facet {
namespace {

std::string tiny_path() { return test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf"; }

using test::random_soft_tokens;

std::vector<SequenceRequest> media_requests(int64_t H, uint32_t image_seed) {
  const std::vector<int32_t> prompt = {2, 313, 333, 99, 99, 99, 99, 99, 290, 301, 277, 350};
  std::vector<SequenceRequest> out(3);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].prompt = prompt;
    out[i].max_tokens = 12;
    // Seeded sampling: the random tiny model's greedy answer is one token repeated, which
    // would hide whether the soft tokens arrived; the same seed gives the same draw.
    out[i].sampling.temperature = 1.0;
    out[i].sampling.seed = 42;
  }
  out[0].media = {PromptMedia{3, random_soft_tokens(5, H, image_seed), image_seed}};
  out[1].media = {PromptMedia{3, random_soft_tokens(5, H, image_seed + 100), image_seed + 100}};
  // out[2]: the same tokens as text (no media)
  return out;
}

struct Outcome {
  GenerationResult result;
  std::vector<float> logprobs;  // of each sampled token
};

std::vector<Outcome> run_all(Scheduler& scheduler, std::vector<SequenceRequest> requests) {
  std::vector<Outcome> results(requests.size());
  std::mutex mutex;
  std::condition_variable done;
  size_t finished = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].top_logprobs = 0;
    requests[i].on_logprob = [&, i](const TokenLogprob& lp) { results[i].logprobs.push_back(lp.logprob); };
    const uint64_t id = scheduler.submit(
        requests[i], [](int32_t, const std::string&) { return true; },
        [&, i](const GenerationResult& g, const std::string& e) {
          EXPECT_EQ(e, "");
          std::lock_guard lock(mutex);
          results[i].result = g;
          ++finished;
          done.notify_all();
        });
    EXPECT_NE(id, 0u);
  }
  std::unique_lock lock(mutex);
  done.wait(lock, [&] { return finished == requests.size(); });
  return results;
}

TEST(SchedulerMedia, SameTokensAsOneGeneratorEachAndMediaAwareReuse) {
  auto model = load_model(tiny_path());
  const int64_t H = model->config.hidden_size;
  SchedulerOptions options;
  options.threads = 2;
  options.max_sequences = 3;
  options.context_size = 64;
  options.prefill_chunk = 4;  // the media span [3, 8) is split over steps
  options.cache_types = KvCacheTypes{};  // f32, as Generator and forward() below
  Scheduler scheduler(*model, nullptr, options);

  const std::vector<SequenceRequest> first = media_requests(H, 1);
  const std::vector<Outcome> got = run_all(scheduler, first);
  ThreadPool pool(2);
  std::vector<float> first_logprob;
  for (size_t i = 0; i < first.size(); ++i) {
    const SequenceRequest& r = first[i];
    Generator g(*model, nullptr, 64);
    GenerationOptions o;
    o.max_tokens = r.max_tokens;
    o.sampling = r.sampling;
    EXPECT_EQ(got[i].result.tokens, g.generate(r.prompt, o, {}, r.media).tokens) << "request " << i;
    // The first token's log-probability from one plain forward pass over the whole prompt.
    KvCache cache(model->config, 64);
    const std::vector<EmbeddingSpan> spans = media_spans_in(r.media, 0, static_cast<int64_t>(r.prompt.size()), H);
    std::vector<float> logits = forward(*model, cache, r.prompt, LogitsFor::LastToken, pool, 512, nullptr, spans);
    double z = 0;
    const float top = *std::max_element(logits.begin(), logits.end());
    for (float l : logits) z += std::exp(static_cast<double>(l - top));
    const double want = logits[static_cast<size_t>(got[i].result.tokens[0])] - top - std::log(z);
    ASSERT_FALSE(got[i].logprobs.empty());
    EXPECT_NEAR(got[i].logprobs[0], want, 1e-4) << "request " << i;
    first_logprob.push_back(got[i].logprobs[0]);
  }
  // The soft tokens reach the model: with and without them the first step differs.
  EXPECT_GT(std::abs(first_logprob[0] - first_logprob[2]), 1e-3);
  EXPECT_GT(std::abs(first_logprob[0] - first_logprob[1]), 1e-3);

  // Round two: the first image again (its slot's prompt is reused past the image), the
  // second request with a new image behind the same placeholder tokens (reuse stops at it).
  std::vector<SequenceRequest> second = media_requests(H, 1);
  second[1].media = {PromptMedia{3, random_soft_tokens(5, H, 7), 7}};
  second.pop_back();
  const std::vector<Outcome> again = run_all(scheduler, second);
  EXPECT_EQ(again[0].result.tokens, got[0].result.tokens);
  EXPECT_FLOAT_EQ(again[0].logprobs[0], got[0].logprobs[0]);
  EXPECT_GT(again[0].result.reused_tokens, 8);
  EXPECT_LE(again[1].result.reused_tokens, 3);
  Generator fresh(*model, nullptr, 64);
  GenerationOptions o;
  o.max_tokens = second[1].max_tokens;
  o.sampling = second[1].sampling;
  EXPECT_EQ(again[1].result.tokens, fresh.generate(second[1].prompt, o, {}, second[1].media).tokens);
}

TEST(SchedulerMedia, MisplacedMediaIsRefused) {
  auto model = load_model(tiny_path());
  SchedulerOptions options;
  options.threads = 1;
  Scheduler scheduler(*model, nullptr, options);
  SequenceRequest r;
  r.prompt = {2, 17, 40};
  r.media = {PromptMedia{2, random_soft_tokens(4, model->config.hidden_size, 1), 1}};
  std::mutex mutex;
  std::condition_variable done;
  std::string error;
  bool finished = false;
  scheduler.submit(r, [](int32_t, const std::string&) { return true; }, [&](const GenerationResult&, const std::string& e) {
    std::lock_guard lock(mutex);
    error = e;
    finished = true;
    done.notify_all();
  });
  std::unique_lock lock(mutex);
  done.wait(lock, [&] { return finished; });
  EXPECT_NE(error.find("do not fit"), std::string::npos) << error;
}

}  // namespace
}  // namespace facet

namespace facet {
namespace {

// On a model whose images' soft tokens see each other both ways (the tiny MoE, 26B-like), a
// prefill chunk of 4 must not cut the 6-token image: its first token's log-probability is that
// of one forward pass over the whole prompt, and differs from running the image causally.
TEST(SchedulerMedia, ImagesRunWholeOnBidirectionalModels) {
  auto model = load_model(test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf");
  ASSERT_TRUE(model->config.bidirectional_images);
  const int64_t H = model->config.hidden_size;
  SchedulerOptions options;
  options.threads = 2;
  options.max_sequences = 1;
  options.context_size = 64;
  options.prefill_chunk = 4;
  options.cache_types = KvCacheTypes{};
  Scheduler scheduler(*model, nullptr, options);
  SequenceRequest r;
  r.prompt = {2, 313, 99, 99, 99, 99, 99, 99, 290, 301, 277};
  r.max_tokens = 3;
  r.media = {PromptMedia{2, random_soft_tokens(6, H, 9), 9, true}};
  const std::vector<Outcome> got = run_all(scheduler, {r});
  ASSERT_FALSE(got[0].logprobs.empty());

  ThreadPool pool(2);
  auto first_logprob = [&](bool image) {
    std::vector<PromptMedia> media = r.media;
    media[0].image = image;
    KvCache cache(model->config, 64);
    const std::vector<EmbeddingSpan> spans = media_spans_in(media, 0, static_cast<int64_t>(r.prompt.size()), H);
    std::vector<float> logits = forward(*model, cache, r.prompt, LogitsFor::LastToken, pool, 512, nullptr, spans);
    double z = 0;
    const float top = *std::max_element(logits.begin(), logits.end());
    for (float l : logits) z += std::exp(static_cast<double>(l - top));
    return logits[static_cast<size_t>(got[0].result.tokens[0])] - top - std::log(z);
  };
  EXPECT_NEAR(got[0].logprobs[0], first_logprob(true), 1e-4);
  EXPECT_GT(std::abs(first_logprob(true) - first_logprob(false)), 1e-4);
}

}  // namespace
}  // namespace facet
