// Speculative decoding (engine/draft.h, Generator with a drafter):
//   - the property exactness rests on: one forward pass over several tokens gives, row by
//     row, the logits of running them one at a time;
//   - greedy output with any drafter (prompt lookup, the model drafting for itself, a
//     different model, a drafter that guesses at random) is token for token the output
//     without one, on every shared tiny model, with the same KV cache left behind;
//   - sampled output keeps the distribution: the acceptance rule alone against exact
//     probabilities computed here in double precision, and whole generations (χ² over
//     thousands of seeds) against the distribution without drafting;
//   - prompt lookup proposes what followed the longest, latest match; a drafter with
//     another vocabulary is a clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "engine/draft.h"
#include "engine/generation.h"
#include "sampling/sampler.h"
#include "support/drafters.h"
#include "support/paths.h"
#include "util/error.h"

namespace facet {
namespace {

std::string model_path(const std::string& name) { return test::data_dir() + "/models/" + name; }

const std::vector<int32_t> kPrompt = {2, 313, 333, 290, 301, 277, 350, 420, 312, 260, 388, 313, 333, 290};

using test::RandomDrafter;

// Proposes the sequence a reference run produced (a perfect drafter), to test full acceptance.
class OracleDrafter : public Drafter {
 public:
  explicit OracleDrafter(std::vector<int32_t> full) : full_(std::move(full)) {}
  std::vector<int32_t> propose(const std::vector<int32_t>& sequence, int max) override {
    std::vector<int32_t> out;
    for (size_t i = sequence.size(); i < full_.size() && static_cast<int>(out.size()) < max; ++i)
      out.push_back(full_[i]);
    return out;
  }
  std::string name() const override { return "oracle"; }

 private:
  std::vector<int32_t> full_;
};

TEST(Speculative, OneForwardOverSeveralTokensEqualsRunningThemOneByOne) {
  for (const char* name : {"gemma4-tiny-e2b-like-f32.gguf", "gemma4-tiny-moe-f32.gguf",
                           "gemma4-tiny-realvocab-f16.gguf"}) {
    auto model = load_model(model_path(name));
    const int64_t vocab = model->config.vocab_size;
    ThreadPool pool(2);
    const std::vector<int32_t> head(kPrompt.begin(), kPrompt.begin() + 9), tail(kPrompt.begin() + 9, kPrompt.end());
    // Every KV cache type: rows a pass writes are read back at the cache's precision, by
    // the tokens after them in the same pass too.
    for (KvCacheTypes types : {KvCacheTypes{}, kDefaultKvCacheTypes, KvCacheTypes{DType::Q8_0, DType::Q4_0}}) {
    SCOPED_TRACE(kv_cache_type_name(types.k) + "/" + kv_cache_type_name(types.v));
    KvCache batched(model->config, 64, 8, types), single(model->config, 64, 8, types);
    forward(*model, batched, head, LogitsFor::LastToken, pool);
    forward(*model, single, head, LogitsFor::LastToken, pool);
    const std::vector<float> rows = forward(*model, batched, tail, LogitsFor::AllTokens, pool);
    for (size_t i = 0; i < tail.size(); ++i) {
      const std::vector<float> one = forward(*model, single, {tail[i]}, LogitsFor::LastToken, pool);
      const std::vector<float> row(rows.begin() + static_cast<std::ptrdiff_t>(i * vocab),
                                   rows.begin() + static_cast<std::ptrdiff_t>((i + 1) * vocab));
      EXPECT_EQ(row, one) << name << " row " << i;
    }
    }
  }
}

struct Outcome {
  std::vector<int32_t> tokens, cached;
  GenerationResult result;
};

// draft_min 0: as many drafts as draft_max every step (a fixed length).
Outcome generate(const Model& model, Drafter* drafter, const std::vector<int32_t>& prompt, int64_t max_tokens,
             int draft_max = 5, SamplingOptions sampling = {}, int draft_min = 0) {
  Generator generator(model, nullptr, 96, 2, /*rewind_tokens=*/8);
  GenerationOptions options;
  options.max_tokens = max_tokens;
  options.drafter = drafter;
  options.draft_min = draft_min == 0 ? draft_max : draft_min;
  options.draft_max = draft_max;
  options.sampling = sampling;
  Outcome run;
  run.result = generator.generate(prompt, options);
  run.tokens = run.result.tokens;
  run.cached = generator.cached_tokens();
  return run;
}

// kPrompt followed by an answer: what a drafter that always guesses right proposes from.
std::vector<int32_t> prompt_and_answer(const Outcome& answer) {
  std::vector<int32_t> full = kPrompt;
  full.insert(full.end(), answer.tokens.begin(), answer.tokens.end());
  return full;
}

TEST(Speculative, GreedyOutputIsIdenticalWithEveryDrafter) {
  for (const char* name : {"gemma4-tiny-e2b-like-f32.gguf", "gemma4-tiny-moe-f32.gguf",
                           "gemma4-tiny-realvocab-f16.gguf"}) {
    SCOPED_TRACE(name);
    auto model = load_model(model_path(name));
    // Sliding window 8 and a 40-token answer: rejections cross the rings' wrap-around.
    const Outcome plain = generate(*model, nullptr, kPrompt, 40);
    ASSERT_EQ(plain.tokens.size(), 40u);
    EXPECT_EQ(plain.result.drafted_tokens, 0);

    PromptLookupDrafter lookup(1, 3);
    RandomDrafter random(model->config.vocab_size);
    ModelDrafter self(*model, model->config, 96, 5, 2);
    auto other_model = load_model(model_path("gemma4-tiny-e2b-like-f32.gguf"));
    std::unique_ptr<ModelDrafter> other;
    if (other_model->config.vocab_size == model->config.vocab_size)
      other = std::make_unique<ModelDrafter>(*other_model, model->config, 96, 5, 2);
    OracleDrafter oracle(prompt_and_answer(plain));

    std::vector<Drafter*> drafters = {&lookup, &random, &self, &oracle};
    if (other) drafters.push_back(other.get());
    for (Drafter* drafter : drafters) {
      SCOPED_TRACE(drafter->name());
      // A fixed length, and lengths chosen step by step from the acceptance (the default).
      for (int draft_min : {0, 1}) {
        const Outcome drafted = generate(*model, drafter, kPrompt, 40, 5, {}, draft_min);
        EXPECT_EQ(drafted.tokens, plain.tokens) << draft_min;
        EXPECT_EQ(drafted.cached, plain.cached) << draft_min;  // the rejected drafts left the cache
        EXPECT_EQ(drafted.result.stop_reason, plain.result.stop_reason);
        EXPECT_LE(drafted.result.accepted_tokens, drafted.result.drafted_tokens);
      }
    }
    // A perfect drafter: every guess accepted, several tokens per forward pass.
    const Outcome perfect = generate(*model, &oracle, kPrompt, 40);
    EXPECT_EQ(perfect.result.accepted_tokens, perfect.result.drafted_tokens);
    EXPECT_LE(perfect.result.forward_steps, 8);
    const Outcome itself = generate(*model, &self, kPrompt, 40);
    EXPECT_EQ(itself.result.accepted_tokens, itself.result.drafted_tokens);
  }
}

TEST(Speculative, DraftLengthFollowsTheAcceptance) {
  auto model = load_model(model_path("gemma4-tiny-e2b-like-f32.gguf"));
  const Outcome plain = generate(*model, nullptr, kPrompt, 40);
  OracleDrafter oracle(prompt_and_answer(plain));
  RandomDrafter random(model->config.vocab_size);
  // Always right: the length grows to the maximum, so 40 tokens take few passes (a fixed
  // length of 1 takes 20: a draft and the model's own token each).
  const Outcome right = generate(*model, &oracle, kPrompt, 40, 8, {}, 1);
  EXPECT_EQ(right.tokens, plain.tokens);
  EXPECT_EQ(right.result.accepted_tokens, right.result.drafted_tokens);
  EXPECT_LE(right.result.forward_steps, 10);
  // Always wrong (random guesses over the vocabulary): after the first step (2 drafts, the
  // prior's choice) one draft a step.
  const Outcome wrong = generate(*model, &random, kPrompt, 40, 8, {}, 1);
  EXPECT_EQ(wrong.tokens, plain.tokens);
  EXPECT_LE(wrong.result.drafted_tokens, wrong.result.forward_steps + 1);
  // The range's floor holds even so.
  const Outcome floor = generate(*model, &random, kPrompt, 40, 8, {}, 3);
  EXPECT_GE(floor.result.drafted_tokens, 3 * (floor.result.forward_steps - 2));
}

TEST(Speculative, SeededSampledGenerationRepeatsWithChosenDraftLengths) {
  // The lengths depend only on the acceptance, not on timings, so the sampler's draws, and
  // with them a seeded answer, are the same on every run.
  auto model = load_model(model_path("gemma4-tiny-e2b-like-f32.gguf"));
  ModelDrafter self(*model, model->config, 96, 8, 2);
  SamplingOptions sampling;
  sampling.temperature = 1.2;
  sampling.seed = 77;
  const Outcome a = generate(*model, &self, kPrompt, 40, 8, sampling, 1);
  const Outcome b = generate(*model, &self, kPrompt, 40, 8, sampling, 1);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.result.drafted_tokens, b.result.drafted_tokens);
  EXPECT_GT(a.result.drafted_tokens, 0);
}

TEST(Speculative, StopTokensAndLimitsAreKeptWithDrafting) {
  auto model = load_model(model_path("gemma4-tiny-e2b-like-f32.gguf"));
  const Outcome plain = generate(*model, nullptr, kPrompt, 30);
  OracleDrafter oracle(prompt_and_answer(plain));
  for (int64_t limit : {1, 2, 7, 12}) {
    const Outcome a = generate(*model, nullptr, kPrompt, limit), b = generate(*model, &oracle, kPrompt, limit);
    EXPECT_EQ(a.tokens, b.tokens) << limit;
    EXPECT_EQ(a.cached, b.cached) << limit;
  }
  // A stop id met inside a run of accepted drafts ends the answer there.
  Generator with(*model, nullptr, 96, 2, 8), without(*model, nullptr, 96, 2, 8);
  GenerationOptions options;
  options.max_tokens = 30;
  options.stop_ids = {plain.tokens[9]};
  const GenerationResult expected = without.generate(kPrompt, options);
  options.drafter = &oracle;
  const GenerationResult got = with.generate(kPrompt, options);
  EXPECT_EQ(got.tokens, expected.tokens);
  EXPECT_EQ(got.stop_reason, StopReason::StopToken);
  EXPECT_EQ(with.cached_tokens(), without.cached_tokens());
}

// Exact probabilities of sample() for one logits row, in double precision: temperature
// softmax over the top-k (k = 0: all) candidates.
std::vector<double> exact_probabilities(const std::vector<float>& logits, double temperature, int top_k) {
  std::vector<size_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return logits[a] > logits[b]; });
  const size_t kept = top_k > 0 ? static_cast<size_t>(top_k) : order.size();
  std::vector<double> p(logits.size(), 0.0);
  double sum = 0;
  for (size_t i = 0; i < kept; ++i) sum += p[order[i]] = std::exp(logits[order[i]] / temperature);
  for (double& v : p) v /= sum;
  return p;
}

// Pearson's χ² of observed counts against expected probabilities (cells with p > 0).
double chi_squared(const std::vector<int>& counts, const std::vector<double>& p, int draws, int* cells) {
  double chi = 0;
  *cells = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0";
      continue;
    }
    const double expected = p[i] * draws;
    chi += (counts[i] - expected) * (counts[i] - expected) / expected;
    ++*cells;
  }
  return chi;
}

TEST(Speculative, AcceptanceRuleKeepsTheSamplersDistribution) {
  const std::vector<float> logits = {1.0f, 2.5f, 0.2f, 1.9f, -1.0f, 2.1f, 0.7f, 1.4f};
  // Critical values of χ² at p = 0.001 for 7 and 4 degrees of freedom.
  for (const auto& [top_k, critical] : std::vector<std::pair<int, double>>{{0, 24.32}, {5, 18.47}}) {
    const std::vector<double> p = exact_probabilities(logits, 0.8, top_k);
    for (int32_t draft : {1, 4, 6}) {  // the likeliest, one filtered out, one in the middle
      SamplingOptions options;
      options.temperature = 0.8;
      options.top_k = top_k;
      options.seed = 1234 + static_cast<uint64_t>(draft);
      Sampler sampler(options);
      constexpr int kDraws = 40000;
      std::vector<int> counts(logits.size(), 0);
      for (int i = 0; i < kDraws; ++i) ++counts[static_cast<size_t>(sampler.accept_or_resample(logits.data(), 8, draft))];
      int cells = 0;
      const double chi = chi_squared(counts, p, kDraws, &cells);
      EXPECT_EQ(cells - 1, top_k == 0 ? 7 : 4);
      EXPECT_LT(chi, critical) << "top-k " << top_k << " draft " << draft;
    }
  }
}

TEST(Speculative, SampledGenerationsKeepTheirDistribution) {
  // The first two answer tokens of many seeded runs, top-k 3 at temperature 1.5 (9 pairs):
  // with a random drafter (mostly rejected: the resampling branch), with the model
  // drafting for itself (mostly accepted: the keep branch) and without drafting.
  auto model = load_model(model_path("gemma4-tiny-e2b-like-f32.gguf"));
  SamplingOptions sampling;
  sampling.temperature = 1.5;
  sampling.top_k = 3;
  constexpr int kRuns = 3000;
  auto pair_counts = [&](Drafter* drafter) {
    std::map<std::pair<int32_t, int32_t>, int> counts;
    Generator generator(*model, nullptr, 64, 1, 8);
    for (int seed = 0; seed < kRuns; ++seed) {
      GenerationOptions options;
      options.max_tokens = 2;
      options.sampling = sampling;
      options.sampling.seed = static_cast<uint64_t>(seed) * 7919 + (drafter ? 1 : 0);
      options.drafter = drafter;
      options.draft_max = 1;
      const GenerationResult r = generator.generate(kPrompt, options);
      ++counts[{r.tokens[0], r.tokens[1]}];
    }
    return counts;
  };
  // The exact distribution of the pair from the forward pass: p(a) p(b | a).
  ThreadPool pool(1);
  std::map<std::pair<int32_t, int32_t>, double> exact;
  {
    KvCache cache(model->config, 64);
    const std::vector<float> first = forward(*model, cache, kPrompt, LogitsFor::LastToken, pool);
    const std::vector<double> p1 = exact_probabilities(first, 1.5, 3);
    for (size_t a = 0; a < p1.size(); ++a) {
      if (p1[a] == 0) continue;
      std::vector<int32_t> extended = kPrompt;
      extended.push_back(static_cast<int32_t>(a));
      KvCache c2(model->config, 64);
      const std::vector<double> p2 =
          exact_probabilities(forward(*model, c2, extended, LogitsFor::LastToken, pool), 1.5, 3);
      for (size_t b = 0; b < p2.size(); ++b)
        if (p2[b] > 0) exact[{static_cast<int32_t>(a), static_cast<int32_t>(b)}] = p1[a] * p2[b];
    }
  }
  ASSERT_EQ(exact.size(), 9u);
  RandomDrafter random(model->config.vocab_size);
  ModelDrafter self(*model, model->config, 64, 1, 1);
  for (Drafter* drafter : std::vector<Drafter*>{nullptr, &random, &self}) {
    const auto counts = pair_counts(drafter);
    double chi = 0;
    for (const auto& [pair, p] : exact) {
      const double expected = p * kRuns;
      const auto it = counts.find(pair);
      const double seen = it == counts.end() ? 0 : it->second;
      chi += (seen - expected) * (seen - expected) / expected;
    }
    int total = 0;
    for (const auto& [pair, n] : counts) total += exact.count(pair) ? n : 0;
    EXPECT_EQ(total, kRuns) << "a pair outside the top-3 x top-3 support was sampled";
    EXPECT_LT(chi, 26.12) << (drafter ? drafter->name() : "no drafter");  // χ², 8 dof, p = 0.001
  }
}

TEST(Speculative, PromptLookupProposesWhatFollowedTheLongestLatestMatch) {
  PromptLookupDrafter lookup(1, 3);
  // "... 5 6 7 8 9 ... 5 6 7 1 2 ... 6 7" -> the 2-gram "6 7" last seen before "1 2".
  EXPECT_EQ(lookup.propose({5, 6, 7, 8, 9, 4, 5, 6, 7, 1, 2, 3, 6, 7}, 3), (std::vector<int32_t>{1, 2, 3}));
  // A 3-gram beats a later 2-gram: "5 6 7" matches at the start only.
  EXPECT_EQ(lookup.propose({5, 6, 7, 8, 9, 6, 7, 4, 5, 6, 7}, 2), (std::vector<int32_t>{8, 9}));
  EXPECT_EQ(lookup.propose({1, 2, 3, 4}, 4), std::vector<int32_t>{});  // nothing repeats
  EXPECT_EQ(lookup.propose({1, 2, 1}, 4), (std::vector<int32_t>{2, 1}));  // up to the end
  EXPECT_EQ(lookup.propose({1, 2, 1}, 0), std::vector<int32_t>{});
  PromptLookupDrafter two(2, 2);
  EXPECT_EQ(two.propose({1, 2, 1}, 4), std::vector<int32_t>{});  // 1-grams are below its minimum
  EXPECT_THROW(PromptLookupDrafter(0, 2), Error);
  EXPECT_THROW(PromptLookupDrafter(3, 2), Error);
}

TEST(Speculative, ADrafterWithAnotherVocabularyIsAClearError) {
  auto main_model = load_model(model_path("gemma4-tiny-realvocab-f16.gguf"));
  auto small = load_model(model_path("gemma4-tiny-e2b-like-f32.gguf"));
  try {
    ModelDrafter drafter(*small, main_model->config, 64, 4, 1);
    FAIL() << "a 512-token drafter was accepted for a 262144-token model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocabulary"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace facet
