// The continuous-batching scheduler: each request gets exactly what a lone Generator
// gives for the same prompt and sampling (greedy and seeded), however many run at once;
// cancel from the token callback and by id; a full queue refuses; bad requests end with an
// error; the destructor ends every request; a later turn reuses an idle slot's cache.
#include <gtest/gtest.h>

#include <condition_variable>
#include <limits>
#include <mutex>
#include <thread>

#include "engine/scheduler.h"
#include "util/thread_pool.h"
#include "support/paths.h"
#include "util/error.h"

namespace facet {
namespace {

std::string model_path(const std::string& name) { return test::data_dir() + "/models/" + name; }

// The E2B-like tiny model (per-layer embeddings, KV sharing, sliding window 8) and its
// synthetic 512-token vocabulary.
struct TinyModel {
  std::unique_ptr<Model> model = load_model(model_path("gemma4-tiny-e2b-like-f32.gguf"));
  Tokenizer tokenizer = Tokenizer::from_gguf(model_path("gemma4-tiny-e2b-like-f32.gguf"));
};
const TinyModel& tiny() {
  static const TinyModel m;
  return m;
}

const std::vector<int32_t> kPrompt = {2, 313, 333, 290, 301, 277, 350, 420, 312, 260, 388};

// Everything one request reported, and a way to wait for its end.
struct Outcome {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<int32_t> streamed_ids;
  std::string text;
  GenerationResult result;
  std::string error;
  int done_calls = 0;

  SequenceTokenCallback on_token(std::function<bool(size_t)> keep_going = {}) {
    return [this, keep_going](int32_t id, const std::string& piece) {
      size_t count;
      {
        std::lock_guard lock(mutex);
        streamed_ids.push_back(id);
        text += piece;
        count = streamed_ids.size();
      }
      changed.notify_all();
      return keep_going ? keep_going(count) : true;
    };
  }
  SequenceDoneCallback on_done() {
    return [this](const GenerationResult& r, const std::string& e) {
      {
        std::lock_guard lock(mutex);
        result = r;
        error = e;
        ++done_calls;
      }
      changed.notify_all();
    };
  }
  void wait_done() {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return done_calls > 0; });
  }
  void wait_tokens(size_t n) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return streamed_ids.size() >= n || done_calls > 0; });
  }
};

SequenceRequest make_request(std::vector<int32_t> prompt, int64_t max_tokens, SamplingOptions sampling = {}) {
  SequenceRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling = sampling;
  return r;
}

// What a lone Generator produces (the reference for every request).
struct Expected {
  GenerationResult result;
  std::string text;
};
Expected generate_alone(const std::vector<int32_t>& prompt, int64_t max_tokens, SamplingOptions sampling = {},
                        std::vector<int32_t> stop_ids = {}) {
  Generator generator(*tiny().model, &tiny().tokenizer, 128, 1, 0, kDefaultKvCacheTypes);
  GenerationOptions options;
  options.max_tokens = max_tokens;
  options.sampling = sampling;
  options.stop_ids = std::move(stop_ids);
  Expected e;
  e.result = generator.generate(prompt, options, [&](int32_t, const std::string& t) { e.text += t; });
  return e;
}

SchedulerOptions small_options(int max_sequences = 4) {
  SchedulerOptions o;
  o.threads = 2;
  o.max_sequences = max_sequences;
  o.context_size = 128;
  o.max_queue = 16;
  o.prefill_chunk = 5;  // prompts span several steps
  o.rewind_tokens = 16;
  return o;
}

TEST(Scheduler, GreedyOutputEqualsALoneGenerator) {
  const Expected want = generate_alone(kPrompt, 12);
  Scheduler scheduler(*tiny().model, &tiny().tokenizer, small_options());
  Outcome got;
  ASSERT_NE(scheduler.submit(make_request(kPrompt, 12), got.on_token(), got.on_done()), 0u);
  got.wait_done();
  EXPECT_EQ(got.error, "");
  EXPECT_EQ(got.result.tokens, want.result.tokens);
  EXPECT_EQ(got.result.stop_reason, StopReason::MaxTokens);
  EXPECT_EQ(got.result.prompt_tokens, static_cast<int64_t>(kPrompt.size()));
  EXPECT_EQ(got.text, want.text);
  EXPECT_EQ(got.streamed_ids, want.result.tokens);
}

TEST(Scheduler, ConcurrentRequestsEachGetExactlyTheirOwnTokens) {
  // Different lengths and samplers, more requests than slots (some wait in the queue).
  std::vector<std::vector<int32_t>> prompts;
  std::vector<SamplingOptions> samplings;
  for (int i = 0; i < 7; ++i) {
    std::vector<int32_t> p = {2};
    for (int j = 0; j < 3 + 4 * i; ++j) p.push_back(static_cast<int32_t>(260 + (i * 37 + j * 11) % 200));
    prompts.push_back(p);
    SamplingOptions s;
    if (i % 2 == 1) {
      s.temperature = 1.2;
      s.top_k = 40;
      s.seed = static_cast<uint64_t>(100 + i);
    }
    samplings.push_back(s);
  }
  std::vector<Expected> want;
  for (size_t i = 0; i < prompts.size(); ++i) want.push_back(generate_alone(prompts[i], 6 + static_cast<int64_t>(i), samplings[i]));

  Scheduler scheduler(*tiny().model, &tiny().tokenizer, small_options(3));
  std::vector<std::unique_ptr<Outcome>> got;
  for (size_t i = 0; i < prompts.size(); ++i) {
    got.push_back(std::make_unique<Outcome>());
    ASSERT_NE(scheduler.submit(make_request(prompts[i], 6 + static_cast<int64_t>(i), samplings[i]),
                               got[i]->on_token(), got[i]->on_done()),
              0u);
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    got[i]->wait_done();
    EXPECT_EQ(got[i]->error, "") << i;
    EXPECT_EQ(got[i]->result.tokens, want[i].result.tokens) << "request " << i;
    EXPECT_EQ(got[i]->text, want[i].text) << "request " << i;
    EXPECT_EQ(got[i]->done_calls, 1);
  }
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.requests_done, 7);
  EXPECT_EQ(stats.active, 0);
}

TEST(Scheduler, StopIdEndsTheRequestWithoutStreamingIt) {
  const Expected free_run = generate_alone(kPrompt, 8);
  const int32_t stop = free_run.result.tokens[3];
  const Expected want = generate_alone(kPrompt, 8, {}, {stop});
  SequenceRequest r = make_request(kPrompt, 8);
  r.stop_ids = {stop};
  Scheduler scheduler(*tiny().model, &tiny().tokenizer, small_options());
  Outcome got;
  scheduler.submit(std::move(r), got.on_token(), got.on_done());
  got.wait_done();
  EXPECT_EQ(got.result.stop_reason, StopReason::StopToken);
  ASSERT_TRUE(got.result.stop_token.has_value());
  EXPECT_EQ(*got.result.stop_token, stop);
  EXPECT_EQ(got.result.tokens, want.result.tokens);
  EXPECT_EQ(got.streamed_ids.size(), got.result.tokens.size() - 1);
}

TEST(Scheduler, LogitFilterMasksTokens) {
  // Forbid the token greedy decoding picks first: the answer must start differently.
  const Expected free_run = generate_alone(kPrompt, 1);
  const int32_t banned = free_run.result.tokens[0];
  SequenceRequest r = make_request(kPrompt, 4);
  r.logit_filter = [banned](std::span<float> logits, const std::vector<int32_t>&) {
    logits[static_cast<size_t>(banned)] = -std::numeric_limits<float>::infinity();
  };
  Scheduler scheduler(*tiny().model, &tiny().tokenizer, small_options());
  Outcome got;
  scheduler.submit(std::move(r), got.on_token(), got.on_done());
  got.wait_done();
  ASSERT_EQ(got.result.tokens.size(), 4u);
  for (int32_t id : got.result.tokens) EXPECT_NE(id, banned);
}

TEST(Scheduler, TokenCallbackReturningFalseCancels) {
  Scheduler scheduler(*tiny().model, &tiny().tokenizer, small_options());
  Outcome got;
  scheduler.submit(make_request(kPrompt, 20), got.on_token([](size_t n) { return n < 3; }), got.on_done());
  got.wait_done();
  EXPECT_EQ(got.result.stop_reason, StopReason::Cancelled);
  EXPECT_EQ(got.result.tokens.size(), 3u);
  EXPECT_EQ(got.streamed_ids.size(), 3u);
  EXPECT_EQ(got.done_calls, 1);
}

TEST(Scheduler, CancelByIdStopsARunningAndAQueuedRequest) {
  SchedulerOptions options = small_options(1);
  Scheduler scheduler(*tiny().model, &tiny().tokenizer, options);
  // The running request's first token callback waits until the test has cancelled both.
  std::mutex gate_mutex;
  std::condition_variable gate;
  bool released = false;
  Outcome running, queued;
  const uint64_t running_id = scheduler.submit(make_request(kPrompt, 50), running.on_token([&](size_t) {
    std::unique_lock lock(gate_mutex);
    gate.wait(lock, [&] { return released; });
    return true;
  }), running.on_done());
  running.wait_tokens(1);  // it now holds the only slot, blocked in the callback
  const uint64_t queued_id = scheduler.submit(make_request(kPrompt, 50), queued.on_token(), queued.on_done());
  ASSERT_NE(running_id, 0u);
  ASSERT_NE(queued_id, 0u);
  EXPECT_EQ(scheduler.stats().queued, 1);
  scheduler.cancel(queued_id);
  scheduler.cancel(running_id);
  {
    std::lock_guard lock(gate_mutex);
    released = true;
  }
  gate.notify_all();
  running.wait_done();
  queued.wait_done();
  EXPECT_EQ(running.result.stop_reason, StopReason::Cancelled);
  EXPECT_EQ(running.result.tokens.size(), 1u);  // cancelled before its next step
  EXPECT_EQ(queued.result.stop_reason, StopReason::Cancelled);
  EXPECT_TRUE(queued.result.tokens.empty());
  EXPECT_TRUE(queued.streamed_ids.empty());
  scheduler.cancel(running_id);  // already finished: nothing happens
  scheduler.cancel(12345);       // never existed
  // The freed slot serves the next request at once.
  Outcome next;
  scheduler.submit(make_request(kPrompt, 3), next.on_token(), next.on_done());
  next.wait_done();
  EXPECT_EQ(next.result.tokens.size(), 3u);
}

TEST(Scheduler, FullQueueRefusesWithIdZero) {
  SchedulerOptions options = small_options(1);
  options.max_queue = 1;
  Scheduler scheduler(*tiny().model, &tiny().tokenizer, options);
  std::mutex gate_mutex;
  std::condition_variable gate;
  bool released = false;
  Outcome first, second, third;
  ASSERT_NE(scheduler.submit(make_request(kPrompt, 2), first.on_token([&](size_t) {
    std::unique_lock lock(gate_mutex);
    gate.wait(lock, [&] { return released; });
    return true;
  }), first.on_done()), 0u);
  first.wait_tokens(1);
  EXPECT_NE(scheduler.submit(make_request(kPrompt, 2), second.on_token(), second.on_done()), 0u);
  EXPECT_EQ(scheduler.submit(make_request(kPrompt, 2), third.on_token(), third.on_done()), 0u);
  EXPECT_EQ(scheduler.stats().requests_rejected, 1);
  {
    std::lock_guard lock(gate_mutex);
    released = true;
  }
  gate.notify_all();
  first.wait_done();
  second.wait_done();
  EXPECT_EQ(second.result.tokens.size(), 2u);
  EXPECT_EQ(third.done_calls, 0);  // a refused request is never called back
}

TEST(Scheduler, BadRequestsEndWithAnErrorAndOthersCarryOn) {
  Scheduler scheduler(*tiny().model, &tiny().tokenizer, small_options());
  std::vector<SequenceRequest> bad;
  bad.push_back(make_request({}, 4));                              // empty prompt
  bad.push_back(make_request({2, 5, 100000}, 4));                  // id outside the vocabulary
  bad.push_back(make_request({2, -1}, 4));                         // negative id
  bad.push_back(make_request(std::vector<int32_t>(129, 5), 4));    // longer than the context
  bad.push_back(make_request(kPrompt, -1));                        // negative token limit
  SamplingOptions broken;
  broken.temperature = 1.0;
  broken.top_p = 1.5;
  bad.push_back(make_request(kPrompt, 4, broken));                 // invalid sampling
  const std::vector<std::string> mentions = {"empty", "out of range", "out of range", "does not fit", "token limit", ""};
  std::vector<std::unique_ptr<Outcome>> got;
  for (auto& r : bad) {
    got.push_back(std::make_unique<Outcome>());
    ASSERT_NE(scheduler.submit(std::move(r), got.back()->on_token(), got.back()->on_done()), 0u);
  }
  Outcome good;
  scheduler.submit(make_request(kPrompt, 5), good.on_token(), good.on_done());
  for (size_t i = 0; i < got.size(); ++i) {
    got[i]->wait_done();
    EXPECT_NE(got[i]->error, "") << i;
    EXPECT_NE(got[i]->error.find(mentions[i]), std::string::npos) << got[i]->error;
    EXPECT_TRUE(got[i]->streamed_ids.empty());
  }
  good.wait_done();
  EXPECT_EQ(good.error, "");
  EXPECT_EQ(good.result.tokens, generate_alone(kPrompt, 5).result.tokens);
}

TEST(Scheduler, DestructorEndsEveryRequestWithOneDoneCall) {
  constexpr int kRequests = 10;
  std::vector<std::unique_ptr<Outcome>> got;
  {
    Scheduler scheduler(*tiny().model, &tiny().tokenizer, small_options(2));
    for (int i = 0; i < kRequests; ++i) {
      got.push_back(std::make_unique<Outcome>());
      ASSERT_NE(scheduler.submit(make_request(kPrompt, 100), got.back()->on_token(), got.back()->on_done()), 0u);
    }
    got[0]->wait_tokens(1);
  }
  // Ten answers of 100 tokens take far longer than the wait above: at least the last
  // queued request was still waiting when the scheduler went away.
  for (auto& g : got) {
    EXPECT_EQ(g->done_calls, 1);
    EXPECT_EQ(g->error, "");
  }
  EXPECT_EQ(got.back()->result.stop_reason, StopReason::Cancelled);
}

// Runs one request to the end and returns what it reported.
GenerationResult run_one(Scheduler& scheduler, std::vector<int32_t> prompt, int64_t max_tokens) {
  Outcome got;
  EXPECT_NE(scheduler.submit(make_request(std::move(prompt), max_tokens), got.on_token(), got.on_done()), 0u);
  got.wait_done();
  EXPECT_EQ(got.error, "");
  return got.result;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(Scheduler, NextTurnReusesItsIdleSlotAndAnswersAsAColdRun) {
  Scheduler scheduler(*tiny().model, &tiny().tokenizer, small_options(2));
  // Two conversations interleaved: each next turn finds the slot holding its history.
  const std::vector<int32_t> other = {2, 400, 401, 402, 403, 404, 405};
  const GenerationResult a1 = run_one(scheduler, kPrompt, 6);
  const GenerationResult b1 = run_one(scheduler, other, 6);
  EXPECT_EQ(a1.reused_tokens, 0);
  EXPECT_EQ(b1.reused_tokens, 0);

  const std::vector<int32_t> a2_prompt = concat(concat(kPrompt, a1.tokens), {300, 301, 302});
  const std::vector<int32_t> b2_prompt = concat(concat(other, b1.tokens), {310, 311});
  const GenerationResult a2 = run_one(scheduler, a2_prompt, 8);
  const GenerationResult b2 = run_one(scheduler, b2_prompt, 8);
  // The cache holds each prompt and every answer token but the last (never run).
  EXPECT_EQ(a2.reused_tokens, static_cast<int64_t>(kPrompt.size() + a1.tokens.size() - 1));
  EXPECT_EQ(b2.reused_tokens, static_cast<int64_t>(other.size() + b1.tokens.size() - 1));
  EXPECT_EQ(a2.tokens, generate_alone(a2_prompt, 8).result.tokens);
  EXPECT_EQ(b2.tokens, generate_alone(b2_prompt, 8).result.tokens);

  // A prompt that leaves the history a few tokens back (an edited last turn) rewinds
  // the cache to the shared prefix.
  std::vector<int32_t> edited(a2_prompt.begin(), a2_prompt.end() - 2);
  edited.push_back(333);
  const GenerationResult a3 = run_one(scheduler, edited, 5);
  EXPECT_EQ(a3.reused_tokens, static_cast<int64_t>(edited.size() - 1));
  EXPECT_EQ(a3.tokens, generate_alone(edited, 5).result.tokens);

  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.reused_tokens, a2.reused_tokens + b2.reused_tokens + a3.reused_tokens);
  EXPECT_EQ(stats.prompt_tokens, static_cast<int64_t>(kPrompt.size() + other.size() + a2_prompt.size() +
                                                      b2_prompt.size() + edited.size()));
}

TEST(Scheduler, ACancelledSequenceLeavesAReusableSlot) {
  Scheduler scheduler(*tiny().model, &tiny().tokenizer, small_options(1));
  Outcome first;
  scheduler.submit(make_request(kPrompt, 30), first.on_token([](size_t n) { return n < 4; }), first.on_done());
  first.wait_done();
  ASSERT_EQ(first.result.stop_reason, StopReason::Cancelled);
  const std::vector<int32_t> next = concat(concat(kPrompt, first.result.tokens), {320});
  const GenerationResult second = run_one(scheduler, next, 4);
  EXPECT_EQ(second.reused_tokens, static_cast<int64_t>(kPrompt.size() + first.result.tokens.size() - 1));
  EXPECT_EQ(second.tokens, generate_alone(next, 4).result.tokens);
}

TEST(Scheduler, RejectsBadOptions) {
  SchedulerOptions o = small_options();
  o.max_sequences = 0;
  EXPECT_THROW(Scheduler(*tiny().model, &tiny().tokenizer, o), Error);
  o = small_options();
  o.prefill_chunk = 0;
  EXPECT_THROW(Scheduler(*tiny().model, &tiny().tokenizer, o), Error);
  o = small_options();
  o.context_size = 0;
  EXPECT_THROW(Scheduler(*tiny().model, &tiny().tokenizer, o), Error);
}

TEST(Scheduler, RunBetweenStepsRunsOnTheWorkerAndLeavesGenerationAlone) {
  const Expected want = generate_alone(kPrompt, 24);
  Scheduler scheduler(*tiny().model, &tiny().tokenizer, small_options());
  Outcome got;
  ASSERT_NE(scheduler.submit(make_request(kPrompt, 24), got.on_token(), got.on_done()), 0u);
  // While the request generates: tasks run (on the worker, not here), errors come back here.
  std::thread::id ran_on;
  int pool_threads = 0;
  scheduler.run_between_steps([&](ThreadPool& pool) {
    ran_on = std::this_thread::get_id();
    pool_threads = pool.size();
  });
  EXPECT_NE(ran_on, std::thread::id());
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_EQ(pool_threads, small_options().threads);
  EXPECT_THROW(scheduler.run_between_steps([](ThreadPool&) { throw Error("task failed"); }), Error);
  got.wait_done();
  EXPECT_EQ(got.error, "");
  EXPECT_EQ(got.result.tokens, want.result.tokens);
}

}  // namespace
}  // namespace facet
