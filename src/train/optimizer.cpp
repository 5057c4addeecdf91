// SGD and AdamW updates of the LoRA parameters.
#include "train/optimizer.h"

#include <cmath>

#include "util/error.h"

namespace facet::train {

void sgd_step(LoraModel& lora, double lr) {
  for (auto& [param, grad] : lora.parameters())
    for (size_t i = 0; i < param->size(); ++i) (*param)[i] -= static_cast<float>(lr * (*grad)[i]);
}

void AdamW::step(const Parameters& params) {
  if (m_.empty()) {
    for (auto& [param, grad] : params) {
      m_.emplace_back(param->size(), 0.0f);
      v_.emplace_back(param->size(), 0.0f);
    }
  }
  require(m_.size() == params.size(), "AdamW: the trained parameters changed between steps");
  ++step_;
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_));
  for (size_t k = 0; k < params.size(); ++k) {
    std::vector<float>& p = *params[k].first;
    const std::vector<float>& g = *params[k].second;
    std::vector<float>& m = m_[k];
    std::vector<float>& v = v_[k];
    for (size_t i = 0; i < p.size(); ++i) {
      // Decoupled weight decay first, as torch.optim.AdamW does.
      double pi = p[i] * (1.0 - options_.lr * options_.weight_decay);
      m[i] = static_cast<float>(options_.beta1 * m[i] + (1 - options_.beta1) * g[i]);
      v[i] = static_cast<float>(options_.beta2 * v[i] + (1 - options_.beta2) * g[i] * g[i]);
      const double m_hat = m[i] / bc1, v_hat = v[i] / bc2;
      pi -= options_.lr * m_hat / (std::sqrt(v_hat) + options_.eps);
      p[i] = static_cast<float>(pi);
    }
  }
}

}  // namespace facet::train
