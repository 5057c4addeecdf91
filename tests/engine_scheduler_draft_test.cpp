// Speculative decoding in the continuous-batching scheduler (SchedulerOptions::drafter):
// several requests at once, drafted sequences batched with undrafted ones (one still
// prefilling), give token for token what they give without a drafter — greedy, with a
// logit filter, with log-probabilities, through stop tokens and limits — for prompt lookup,
// a drafter that guesses at random (every step rolls the cache back) and a Gemma 4
// assistant drafter; the draft statistics show the drafts were checked.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "engine/draft.h"
#include "engine/scheduler.h"
#include "model/assistant.h"
#include "support/drafters.h"
#include "support/paths.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

std::string tiny_path() { return test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf"; }

struct Result {
  std::vector<int32_t> tokens;
  std::vector<std::pair<int32_t, float>> logprobs;
  GenerationResult result;
  std::string error;
};

// Runs the requests together on one scheduler and returns what each got.
std::vector<Result> run_all(const Model& model, Drafter* drafter, const std::vector<SequenceRequest>& requests) {
  SchedulerOptions options;
  options.threads = 2;
  options.max_sequences = 4;
  options.context_size = 96;
  options.prefill_chunk = 5;  // prompts take several steps: prefilling and drafted decodes share passes
  options.drafter = drafter;
  options.draft_max = 4;
  std::vector<Result> results(requests.size());
  std::mutex mutex;
  std::condition_variable done;
  size_t finished = 0;
  {
    Scheduler scheduler(model, nullptr, options);
    for (size_t i = 0; i < requests.size(); ++i) {
      SequenceRequest r = requests[i];
      r.on_logprob = [&, i](const TokenLogprob& lp) { results[i].logprobs.push_back({lp.id, lp.logprob}); };
      const uint64_t id = scheduler.submit(
          r, [&, i](int32_t token, const std::string&) { return results[i].tokens.push_back(token), true; },
          [&, i](const GenerationResult& g, const std::string& e) {
            std::lock_guard lock(mutex);
            results[i].result = g;
            results[i].error = e;
            ++finished;
            done.notify_all();
          });
      EXPECT_NE(id, 0u);
    }
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return finished == requests.size(); });
  }
  return results;
}

std::vector<SequenceRequest> test_requests() {
  std::vector<SequenceRequest> out;
  const std::vector<std::vector<int32_t>> prompts = {
      {2, 313, 333, 290, 301, 277, 350, 420, 312, 260, 388},
      {2, 17, 9, 33, 17, 9, 33, 17},
      {2, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412},
      {2, 5, 6, 7}};
  for (size_t i = 0; i < prompts.size(); ++i) {
    SequenceRequest r;
    r.prompt = prompts[i];
    r.max_tokens = 20 + 7 * static_cast<int64_t>(i);
    r.top_logprobs = i == 0 ? 3 : -1;
    if (i == 1) r.stop_ids = {9};  // may end early on a drafted token
    if (i == 2)  // a filter that bans every odd id: drafts must be judged on filtered rows
      r.logit_filter = [](std::span<float> logits, const std::vector<int32_t>&) {
        for (size_t j = 1; j < logits.size(); j += 2) logits[j] = -std::numeric_limits<float>::infinity();
      };
    out.push_back(std::move(r));
  }
  return out;
}

void expect_same(const std::vector<Result>& got, const std::vector<Result>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    EXPECT_TRUE(got[i].error.empty()) << got[i].error;
    EXPECT_EQ(got[i].result.tokens, want[i].result.tokens);
    EXPECT_EQ(got[i].tokens, want[i].tokens);
    EXPECT_EQ(got[i].logprobs, want[i].logprobs);
    EXPECT_EQ(got[i].result.stop_reason, want[i].result.stop_reason);
  }
}

TEST(SchedulerDraft, GreedyOutputIsUnchangedForEveryDrafter) {
  auto model = load_model(tiny_path());
  const std::vector<SequenceRequest> requests = test_requests();
  const std::vector<Result> plain = run_all(*model, nullptr, requests);
  for (const Result& r : plain) ASSERT_FALSE(r.result.tokens.empty());

  PromptLookupDrafter lookup(1, 3);
  test::RandomDrafter random(model->config.vocab_size, 3);
  test::TempDir dir;
  const AssistantConfig a = test::assistant_config_for(model->config, {LayerKind::Sliding, LayerKind::Full}, 32);
  write_random_assistant_gguf(a, GeneratorOptions{}, dir.file("assistant.gguf"));
  auto assistant_model = load_assistant(dir.file("assistant.gguf"));
  AssistantDrafter assistant(*assistant_model, model->config, 1);

  for (Drafter* drafter : std::vector<Drafter*>{&lookup, &random, &assistant}) {
    SCOPED_TRACE(drafter->name());
    const std::vector<Result> drafted = run_all(*model, drafter, requests);
    expect_same(drafted, plain);
    int64_t checked = 0;
    for (const Result& r : drafted) checked += r.result.drafted_tokens;
    EXPECT_GT(checked, 0);
  }
  // Prompt lookup on the repetitive prompt gets some drafts right.
  const std::vector<Result> looked = run_all(*model, &lookup, requests);
  int64_t accepted = 0;
  for (const Result& r : looked) accepted += r.result.accepted_tokens;
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace facet
