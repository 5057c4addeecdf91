// DPO and ORPO: sequence log-probs from the training pass, and the pair loss's gradient
// pushed through training_gradients() as a (signed) scale on each completion's summed NLL.
#include "train/preference.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace facet::train {
namespace {

double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }

struct Sequence {
  std::vector<int32_t> tokens, targets;
};

Sequence join(const std::vector<int32_t>& prompt, const std::vector<int32_t>& completion) {
  require(!prompt.empty() && !completion.empty(), "a preference pair needs a prompt and non-empty completions");
  Sequence s;
  s.tokens = prompt;
  s.tokens.insert(s.tokens.end(), completion.begin(), completion.end());
  s.targets.assign(s.tokens.size(), kIgnoreTarget);
  for (size_t t = prompt.size() - 1; t + 1 < s.tokens.size(); ++t) s.targets[t] = s.tokens[t + 1];
  return s;
}

// Chosen and rejected get different dropout masks; forward and backward of one sequence
// must use the same one.
PassOptions pass_for(const PassOptions& pass, int which) {
  PassOptions p = pass;
  p.dropout_seed = pass.dropout_seed * 2 + static_cast<uint64_t>(which);
  return p;
}

// The pair loss from the policy log-probs, and dL/dS for each completion, where
// S = -ℓ is the summed NLL that training_gradients differentiates.
struct LossAndSlopes {
  PairResult result;
  double d_chosen = 0, d_rejected = 0;
};

LossAndSlopes pair_loss(const SequenceLogProb& chosen, const SequenceLogProb& rejected,
                        const ReferenceLogProbs& ref, const PreferenceOptions& options) {
  LossAndSlopes out;
  out.result.chosen = chosen;
  out.result.rejected = rejected;
  const double beta = options.beta;
  if (options.loss == PreferenceLoss::Dpo) {
    const double rw = beta * (chosen.sum - ref.chosen.sum), rl = beta * (rejected.sum - ref.rejected.sum);
    const double margin = rw - rl;  // β Δ
    out.result.loss = softplus(-margin);
    out.result.chosen_reward = rw;
    out.result.rejected_reward = rl;
    const double slope = beta * sigmoid(-margin);  // -dL/dΔ
    out.d_chosen = slope;
    out.d_rejected = -slope;
  } else {
    const double aw = chosen.sum / static_cast<double>(chosen.n), al = rejected.sum / static_cast<double>(rejected.n);
    // 1 - e^a, kept away from 0 (a completion the model is certain of).
    const double qw = std::max(-std::expm1(aw), 1e-12), ql = std::max(-std::expm1(al), 1e-12);
    const double z = (aw - std::log(qw)) - (al - std::log(ql));
    out.result.loss = -aw + beta * softplus(-z);
    out.result.chosen_reward = beta * aw;
    out.result.rejected_reward = beta * al;
    const double s = beta * sigmoid(-z);
    out.d_chosen = (1.0 + s / qw) / static_cast<double>(chosen.n);
    out.d_rejected = -(s / ql) / static_cast<double>(rejected.n);
  }
  return out;
}

}  // namespace

SequenceLogProb completion_logprob(const Model& model, const LoraModel* lora, const std::vector<int32_t>& prompt,
                                   const std::vector<int32_t>& completion, const PassOptions& pass,
                                   ThreadPool& pool) {
  const Sequence s = join(prompt, completion);
  const LossResult r = training_loss(model, lora, s.tokens, s.targets, pass, pool);
  return {-r.loss_sum, r.n_targets};
}

ReferenceLogProbs reference_logprobs(const Model& model, const PreferenceExample& pair, ThreadPool& pool) {
  PassOptions eval;
  eval.training = false;
  return {completion_logprob(model, nullptr, pair.prompt, pair.chosen, eval, pool),
          completion_logprob(model, nullptr, pair.prompt, pair.rejected, eval, pool)};
}

PairResult preference_loss(const Model& model, const LoraModel& lora, const PreferenceExample& pair,
                           const ReferenceLogProbs& ref, const PreferenceOptions& options, const PassOptions& pass,
                           ThreadPool& pool) {
  const SequenceLogProb c = completion_logprob(model, &lora, pair.prompt, pair.chosen, pass_for(pass, 0), pool);
  const SequenceLogProb r = completion_logprob(model, &lora, pair.prompt, pair.rejected, pass_for(pass, 1), pool);
  return pair_loss(c, r, ref, options).result;
}

PairResult preference_gradients(const Model& model, LoraModel& lora, const PreferenceExample& pair,
                                const ReferenceLogProbs& ref, const PreferenceOptions& options, double weight,
                                const PassOptions& pass, ThreadPool& pool) {
  // The slopes depend on both log-probs, so a forward pass of each comes first; the
  // gradient passes then recompute them (cheaper in memory than keeping two tapes).
  const PassOptions pc = pass_for(pass, 0), pr = pass_for(pass, 1);
  const SequenceLogProb c = completion_logprob(model, &lora, pair.prompt, pair.chosen, pc, pool);
  const SequenceLogProb r = completion_logprob(model, &lora, pair.prompt, pair.rejected, pr, pool);
  const LossAndSlopes loss = pair_loss(c, r, ref, options);
  auto backprop = [&](const std::vector<int32_t>& completion, const PassOptions& p, double slope) {
    if (slope * weight == 0) return;  // grad_scale 0 would mean "mean"; nothing to add
    const Sequence s = join(pair.prompt, completion);
    PassOptions scaled = p;
    scaled.grad_scale = slope * weight;
    training_gradients(model, lora, s.tokens, s.targets, scaled, pool);
  };
  backprop(pair.chosen, pc, loss.d_chosen);
  backprop(pair.rejected, pr, loss.d_rejected);
  return loss.result;
}

}  // namespace facet::train
