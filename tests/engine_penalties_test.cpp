// Repetition penalties, logit bias and logprobs through the generation engines: `facet
// run`'s Generator and the server's Scheduler must pick, step by step, the tokens a plain
// reference picks: logits recomputed from scratch for the whole sequence so far, the
// penalties applied by the formulas written out here in double, then argmax. The
// scheduler's logprobs must be the reference's log-softmax of those adjusted logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <numeric>

#include "engine/generation.h"
#include "engine/scheduler.h"
#include "model/forward.h"
#include "support/paths.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

const std::string kModel = test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf";
const std::vector<int32_t> kPrompt = {2, 313, 333, 290, 301, 277, 350, 420, 312, 260, 388};

struct Step {
  int32_t token = 0;
  std::vector<double> logprobs;  // of every id, after the adjustments
};

// llama.cpp's penalties over the last `last_n` tokens, OpenAI's presence/frequency, then bias.
std::vector<double> reference_adjusted(std::vector<float> logits, const std::vector<int32_t>& sequence,
                                       const SamplingOptions& o) {
  std::vector<double> out(logits.begin(), logits.end());
  const size_t from = sequence.size() - std::min(sequence.size(), static_cast<size_t>(o.repeat_last_n));
  std::map<int32_t, int> count;
  for (size_t i = from; i < sequence.size(); ++i) ++count[sequence[i]];
  for (const auto& [id, c] : count) {
    double& l = out[static_cast<size_t>(id)];
    l = l > 0 ? l / o.repeat_penalty : l * o.repeat_penalty;
    l -= c * o.frequency_penalty + o.presence_penalty;
  }
  for (const auto& [id, bias] : o.logit_bias) out[static_cast<size_t>(id)] += bias;
  return out;
}

std::vector<Step> reference_greedy(const Model& model, const SamplingOptions& o, int steps) {
  ThreadPool pool(2);
  std::vector<int32_t> sequence = kPrompt;
  std::vector<Step> out;
  for (int s = 0; s < steps; ++s) {
    KvCache cache(model.config, static_cast<int64_t>(sequence.size()));
    const std::vector<double> l =
        reference_adjusted(forward(model, cache, sequence, LogitsFor::LastToken, pool), sequence, o);
    Step step;
    step.token = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    const double max = *std::max_element(l.begin(), l.end());
    double sum = 0;
    for (double v : l) sum += std::exp(v - max);
    for (double v : l) step.logprobs.push_back(v - max - std::log(sum));
    sequence.push_back(step.token);
    out.push_back(std::move(step));
  }
  return out;
}

SamplingOptions penalised() {
  SamplingOptions o;  // greedy
  o.repeat_penalty = 2.0;
  o.presence_penalty = 1.0;
  o.frequency_penalty = 0.5;
  o.repeat_last_n = 8;  // shorter than prompt + answer: the window slides
  o.logit_bias = {{313, 1.5f}, {260, -2.0f}};
  return o;
}

TEST(PenaltiesInEngines, GeneratorAndSchedulerPickTheReferenceTokens) {
  const auto model = load_model(kModel);
  const Tokenizer tokenizer = Tokenizer::from_gguf(kModel);
  const SamplingOptions o = penalised();
  constexpr int kSteps = 14;
  const std::vector<Step> want = reference_greedy(*model, o, kSteps);
  std::vector<int32_t> want_tokens;
  for (const Step& s : want) want_tokens.push_back(s.token);
  // Without the adjustments greedy decoding takes another path (so the test can tell).
  SamplingOptions plain;
  std::vector<int32_t> plain_tokens;
  for (const Step& s : reference_greedy(*model, plain, kSteps)) plain_tokens.push_back(s.token);
  ASSERT_NE(plain_tokens, want_tokens);

  // F32 KV caches, as the reference's: the comparison is then about the adjustments alone.
  Generator generator(*model, &tokenizer, 128, 2, 0, KvCacheTypes{});
  GenerationOptions options;
  options.max_tokens = kSteps;
  options.sampling = o;
  EXPECT_EQ(generator.generate(kPrompt, options, {}).tokens, want_tokens);

  SchedulerOptions so;
  so.threads = 2;
  so.context_size = 128;
  so.prefill_chunk = 4;
  so.cache_types = KvCacheTypes{};
  Scheduler scheduler(*model, &tokenizer, so);
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  GenerationResult result;
  std::vector<TokenLogprob> logprobs;
  SequenceRequest r;
  r.prompt = kPrompt;
  r.max_tokens = kSteps;
  r.sampling = o;
  r.top_logprobs = 3;
  r.on_logprob = [&](const TokenLogprob& lp) { logprobs.push_back(lp); };  // scheduler thread only
  ASSERT_NE(scheduler.submit(std::move(r), {},
                             [&](const GenerationResult& g, const std::string& error) {
                               EXPECT_EQ(error, "");
                               std::lock_guard lock(mutex);
                               result = g;
                               done = true;
                               done_cv.notify_all();
                             }),
            0u);
  std::unique_lock lock(mutex);
  done_cv.wait(lock, [&] { return done; });
  EXPECT_EQ(result.tokens, want_tokens);

  ASSERT_EQ(logprobs.size(), want.size());
  for (size_t s = 0; s < want.size(); ++s) {
    const std::vector<double>& ref = want[s].logprobs;
    EXPECT_EQ(logprobs[s].id, want[s].token);
    EXPECT_NEAR(logprobs[s].logprob, ref[static_cast<size_t>(want[s].token)], 1e-4) << "step " << s;
    std::vector<int32_t> order(ref.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return ref[a] > ref[b]; });
    ASSERT_EQ(logprobs[s].top.size(), 3u);
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(logprobs[s].top[k].first, order[k]) << "step " << s << " rank " << k;
      EXPECT_NEAR(logprobs[s].top[k].second, ref[static_cast<size_t>(order[k])], 1e-4);
    }
  }
}

}  // namespace
}  // namespace facet
