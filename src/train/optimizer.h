// Optimizers over the LoRA parameters: plain SGD and AdamW (decoupled weight decay, bias
// correction, as torch.optim.AdamW).
#pragma once

#include <cstdint>
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
  // One update from the gradients currently in `lora` (the moments are sized on first use).
  void step(LoraModel& lora);
  int64_t steps() const { return step_; }

 private:
  AdamWOptions options_;
  int64_t step_ = 0;
  std::vector<std::vector<float>> m_, v_;
};

}  // namespace facet::train
