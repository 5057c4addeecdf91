// How many tokens to ask the drafter for at each step of speculative decoding.
#pragma once

#include <cstdint>

namespace facet {

// Picks each step's draft length in [min_tokens, max_tokens] from how many of this
// generation's drafts the model kept so far. With a per-token acceptance a, a pass that
// checks k drafts yields (1 - a^(k+1)) / (1 - a) tokens on average, and costs more the more
// tokens it checks; the length that yields the most tokens per unit of cost is chosen, under
// the cost model 1 + kCheckCostPerToken * k (relative to a one-token pass). Long drafts pay
// only when most are kept: at a = 0.7 this picks 2 tokens, at 0.8 3-4, at 0.9 6, at 0.5 or less 1.
//
// Deterministic: the choice depends only on the accepted and rejected drafts, never on
// timings, so a seeded sampled generation gives the same tokens on every run (the sampler's
// draws depend on how many drafts each step checks). min == max: a fixed length.
class DraftLength {
 public:
  // The cost of each checked token relative to a one-token pass, drafter included: fitted to
  // E2B-shaped Q4_0 with its E2B-shaped assistant on 2 threads (Zen 5, 2026-12-07: a step
  // that checks 2 drafts took 1.44x a one-token step, one that checks 8 2.8x); bigger models,
  // more memory-bound, check long drafts more cheaply, and fare a little worse for it.
  static constexpr double kCheckCostPerToken = 0.25;
  // Before any step the acceptance is taken as kPriorAcceptance, worth kPriorDrafts judged
  // drafts: a first guess of 2 drafts a step, and no estimate of exactly 0 or 1 from a few steps.
  static constexpr double kPriorAcceptance = 0.7, kPriorDrafts = 2;
  // How much the acceptance seen one step earlier still counts (an exponential window of
  // about 10 steps: a chat that turns from prose to code adapts within a few steps).
  static constexpr double kDecay = 0.9;

  DraftLength(int min_tokens, int max_tokens);

  // The draft length for the next step.
  int next() const { return next_; }
  // One step's outcome: `drafted` tokens checked, the first `accepted` of them kept.
  void record(int64_t drafted, int64_t accepted);
  // The acceptance estimate behind next(): the kept share of checked drafts, a token
  // rejected where the model disagreed (drafts after it are not counted).
  double acceptance() const;

 private:
  int choose() const;

  int min_, max_;
  double kept_ = 0, checked_ = 0;  // decayed counts
  int next_;
};

}  // namespace facet
