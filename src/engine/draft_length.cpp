#include "engine/draft_length.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace facet {

DraftLength::DraftLength(int min_tokens, int max_tokens) : min_(min_tokens), max_(max_tokens) {
  require(min_tokens >= 1 && min_tokens <= max_tokens, "the draft length range must satisfy 1 <= min <= max (got ",
          min_tokens, " and ", max_tokens, ")");
  next_ = choose();
}

double DraftLength::acceptance() const {
  return (kept_ + kPriorAcceptance * kPriorDrafts) / (checked_ + kPriorDrafts);
}

void DraftLength::record(int64_t drafted, int64_t accepted) {
  if (drafted <= 0) return;  // the drafter had no guess: nothing learnt
  accepted = std::clamp<int64_t>(accepted, 0, drafted);
  // The drafts after the first rejected one were never judged.
  const int64_t judged = accepted + (accepted < drafted ? 1 : 0);
  kept_ = kDecay * kept_ + static_cast<double>(accepted);
  checked_ = kDecay * checked_ + static_cast<double>(judged);
  next_ = choose();
}

int DraftLength::choose() const {
  const double a = acceptance();
  int best = min_;
  double best_rate = -1;
  for (int k = min_; k <= max_; ++k) {
    // 1 + a + ... + a^k tokens per pass: the model's own token and each draft kept with the
    // ones before it.
    const double tokens = (1.0 - std::pow(a, k + 1)) / (1.0 - a);
    const double rate = tokens / (1.0 + kCheckCostPerToken * k);
    if (rate > best_rate * (1.0 + 1e-12)) best_rate = rate, best = k;
  }
  return best;
}

}  // namespace facet
