// The training forward and backward pass of the Gemma 4 text decoder (f32 activations):
// every feature of the inference path, LoRA adapters on the linear layers, next-token
// cross-entropy over selected positions, and activation checkpointing (only each layer's
// input and the owning layers' K/V are kept; a layer is recomputed just before its
// backward). With LoRA the base weights stay frozen in whatever dtype they are stored;
// full-parameter training (train/full_model.h) gives every weight its gradient.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"
#include "train/full_model.h"
#include "train/lora.h"

namespace facet {
class ThreadPool;
}

namespace facet::train {

// targets[t] is the token the model should predict after tokens[t], or kIgnoreTarget.
constexpr int32_t kIgnoreTarget = -100;

struct PassOptions {
  bool training = true;       // LoRA dropout on (eval: off)
  uint64_t dropout_seed = 0;  // change per step: picks the dropout masks
  // The loss whose gradient is accumulated is grad_scale × (sum of target losses);
  // 0 means 1 / (number of targets), i.e. the gradient of the mean. Negative scales are
  // allowed (preference losses push the rejected completion's likelihood down).
  double grad_scale = 0;
  int64_t head_chunk = 64;    // target rows per output-head chunk (bounds the [rows, V] logits)
  // A packed sequence (SftExample::segments): the token counts of its examples, summing
  // to the sequence length; empty means one example. Attention is then block-diagonal
  // causal (sliding windows counted inside each example) and RoPE positions restart at 0
  // per example, so each example computes exactly what it would alone.
  std::vector<int64_t> segments = {};  // "= {}": designated initializers may leave it out
};

struct LossResult {
  double loss_sum = 0;    // sum over target positions of -log p(target)
  int64_t n_targets = 0;
  double mean() const { return n_targets ? loss_sum / static_cast<double>(n_targets) : 0.0; }
};

// Logits [n, vocab] of the training forward (adapters applied, no dropout); equal to
// the inference forward() on the same tokens when no adapter is given.
std::vector<float> training_logits(const Model& model, const LoraModel* lora, const std::vector<int32_t>& tokens,
                                   ThreadPool& pool);

// The logits [vocab] of the last position only (greedy decoding with an adapter).
std::vector<float> training_last_logits(const Model& model, const LoraModel* lora, const std::vector<int32_t>& tokens,
                                        ThreadPool& pool);

// Loss only (no gradients).
LossResult training_loss(const Model& model, const LoraModel* lora, const std::vector<int32_t>& tokens,
                         const std::vector<int32_t>& targets, const PassOptions& options, ThreadPool& pool);

// Forward and backward: returns the loss and ADDS the gradients of the LoRA parameters
// into lora.grad_a / grad_b (call zero_grad() between optimizer steps; accumulation over
// micro-batches is just several calls).
LossResult training_gradients(const Model& model, LoraModel& lora, const std::vector<int32_t>& tokens,
                              const std::vector<int32_t>& targets, const PassOptions& options, ThreadPool& pool);

// Full-parameter training: forward and backward over `full.model()` (no adapter, no
// dropout); returns the loss and ADDS the gradient of every weight into full's grads
// (call zero_grad() between optimizer steps).
LossResult full_training_gradients(FullModel& full, const std::vector<int32_t>& tokens,
                                   const std::vector<int32_t>& targets, const PassOptions& options, ThreadPool& pool);

// Targets for plain next-token training on `tokens`: targets[t] = tokens[t + 1], the last
// position ignored.
std::vector<int32_t> next_token_targets(const std::vector<int32_t>& tokens);

}  // namespace facet::train
