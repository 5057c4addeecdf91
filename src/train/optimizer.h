// Optimizers over trained parameters (LoRA adapters, or every weight in full training): plain SGD and AdamW (decoupled weight decay, bias
// correction, as torch.optim.AdamW).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "train/lora.h"

namespace facet::train {

// p -= lr * g for every LoRA parameter.
void sgd_step(LoraModel& lora, double lr);

struct AdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

class AdamW {
 public:
  explicit AdamW(AdamWOptions options) : options_(options) {}
  // (value, grad) pairs, as LoraModel::parameters() and FullModel::parameters() give them.
  using Parameters = std::vector<std::pair<std::vector<float>*, std::vector<float>*>>;
  // One update from the gradients currently in `lora` (the moments are sized on first use).
  void step(LoraModel& lora) { step(lora.parameters()); }
  void step(const Parameters& params);
  int64_t steps() const { return step_; }
  void set_lr(double lr) { options_.lr = lr; }  // learning-rate schedules change it per step

  // The moments and step count, for checkpoints (m and v in LoraModel::parameters() order).
  struct State {
    int64_t step = 0;
    std::vector<std::vector<float>> m, v;
  };
  State state() const { return {step_, m_, v_}; }
  void set_state(State state) {
    step_ = state.step;
    m_ = std::move(state.m);
    v_ = std::move(state.v);
  }

 private:
  AdamWOptions options_;
  int64_t step_ = 0;
  std::vector<std::vector<float>> m_, v_;
};

}  // namespace facet::train
