// Preference objectives on prompt/chosen/rejected pairs (finetune spec §5.4, §5.5):
//   DPO  (TRL loss_type "sigmoid"): L = -log σ(β Δ),
//        Δ = [ℓθ(yw) - ℓref(yw)] - [ℓθ(yl) - ℓref(yl)], ℓ = summed completion log-probs;
//        the reference is the same base with the adapters off (no second model copy),
//        computed once per pair before training.
//   ORPO (reference-free): L = NLL(yw) - β log σ(logodds(yw) - logodds(yl)),
//        logodds(y) = a - log(1 - e^a), a = mean completion log-prob; NLL = -a(yw).
//        (TRL takes the NLL over prompt + chosen; here it is over the chosen completion.)
#pragma once

#include <cstdint>

#include "train/dataset.h"
#include "train/train_model.h"

namespace facet::train {

enum class PreferenceLoss { Dpo, Orpo };

struct PreferenceOptions {
  PreferenceLoss loss = PreferenceLoss::Dpo;
  double beta = 0.1;
};

// Summed log-probability of a completion after its prompt, and its token count.
struct SequenceLogProb {
  double sum = 0;
  int64_t n = 0;
};

struct ReferenceLogProbs {
  SequenceLogProb chosen, rejected;
};

struct PairResult {
  double loss = 0;
  SequenceLogProb chosen, rejected;        // under the adapted model
  double chosen_reward = 0, rejected_reward = 0;  // DPO: β(ℓθ - ℓref); ORPO: β·logodds
};

// ℓ(completion | prompt) with `lora` (null: the base model).
SequenceLogProb completion_logprob(const Model& model, const LoraModel* lora, const std::vector<int32_t>& prompt,
                                   const std::vector<int32_t>& completion, const PassOptions& pass,
                                   ThreadPool& pool);

// The reference log-probs of a pair: the base model, adapters off, no dropout.
ReferenceLogProbs reference_logprobs(const Model& model, const PreferenceExample& pair, ThreadPool& pool);

// The loss of one pair (no gradients). `ref` is read for DPO only.
PairResult preference_loss(const Model& model, const LoraModel& lora, const PreferenceExample& pair,
                           const ReferenceLogProbs& ref, const PreferenceOptions& options, const PassOptions& pass,
                           ThreadPool& pool);

// Same, and ADDS weight × ∂L/∂(LoRA parameters) into the adapter's gradients.
PairResult preference_gradients(const Model& model, LoraModel& lora, const PreferenceExample& pair,
                                const ReferenceLogProbs& ref, const PreferenceOptions& options, double weight,
                                const PassOptions& pass, ThreadPool& pool);

}  // namespace facet::train
