#include "train/adapter_runtime.h"

#include <charconv>
#include <cmath>
#include <deque>

#include "train/adapter_io.h"
#include "train/adapter_names.h"
#include "train/expert_lora.h"
#include "util/error.h"

namespace facet::train {
namespace {

// What a Model's lora_attachment owns: the adapters and the chain nodes pointing into them.
struct Attachment {
  std::vector<std::shared_ptr<const LoraModel>> adapters;
  std::deque<LoraDelta> nodes;  // a deque never moves its elements, so pointers stay valid
  // Expert adapters: each expert's B_e as a contiguous [out, r] copy (PEFT interleaves the
  // experts' columns of B, the chain's B must be row-major per expert).
  std::deque<std::vector<float>> expert_b;
  std::vector<size_t> node_adapter;    // nodes[i] belongs to adapters[node_adapter[i]]
  std::vector<double> adapter_factor;  // lora->config.scale() of each adapter
};

// The model holds its attachment as const void (the matmul only reads the chain); the
// Attachment itself was made non-const, so set_adapter_scales may write its nodes.
Attachment* attachment_of(const Model& model) {
  return const_cast<Attachment*>(static_cast<const Attachment*>(model.lora_attachment.get()));
}

}  // namespace

std::pair<std::string, double> parse_lora_argument(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon != std::string::npos && colon + 1 < text.size()) {
    const std::string number = text.substr(colon + 1);
    double scale = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), scale);
    if (ec == std::errc() && end == number.data() + number.size()) {
      require(std::isfinite(scale), "--lora ", text, ": the scale must be a finite number");
      require(colon > 0, "--lora ", text, ": missing the adapter path before ':'");
      return {text.substr(0, colon), scale};
    }
  }
  require(!text.empty(), "--lora needs an adapter path");
  return {text, 1.0};
}

LoadedAdapter load_adapter_for_inference(const std::string& path, double scale, const Model& model) {
  require(std::isfinite(scale), "the LoRA scale for ", path, " must be a finite number");
  LoadedAdapter a;
  a.path = path;
  a.lora = std::make_shared<const LoraModel>(load_adapter(path, model));
  a.scale = scale;
  return a;
}

void attach_adapters(Model& model, const std::vector<LoadedAdapter>& adapters) {
  const int n_layers = static_cast<int>(model.weights.layers.size());
  // Check everything first, so a bad adapter leaves the model as it was.
  for (const LoadedAdapter& a : adapters) {
    require(a.lora != nullptr, "internal: adapter ", a.path, " is empty");
    require(static_cast<int>(a.lora->layers.size()) == n_layers, a.path, ": the adapter has ", a.lora->layers.size(),
            " layers but the model has ", n_layers);
    for (int l = 0; l < n_layers; ++l)
      for (int t = 0; t < kLoraTargetCount; ++t) {
        const LoraWeights* w = a.lora->layers[static_cast<size_t>(l)].get(static_cast<LoraTarget>(t));
        if (!w) continue;
        if (is_expert_target(static_cast<LoraTarget>(t))) {
          const ExpertShape e = expert_target_shape(model.config, static_cast<LoraTarget>(t));
          require(e.experts == w->experts && e.out == w->out && e.in == w->in &&
                      w->a.size() == static_cast<size_t>(w->rank * w->experts * w->in) &&
                      w->b.size() == static_cast<size_t>(w->out * w->rank * w->experts),
                  a.path, ": the adapter on layer ", l, " ", lora_target_name(static_cast<LoraTarget>(t)), " is for ",
                  w->experts, " experts of [", w->out, ", ", w->in, "] but the model has ", e.experts, " of [", e.out,
                  ", ", e.in, "]");
          continue;
        }
        const WeightMatrix& m = adapted_matrix(model.weights, l, static_cast<LoraTarget>(t));
        require(m.rows == w->out && m.cols == w->in && w->a.size() == static_cast<size_t>(w->rank * w->in) &&
                    w->b.size() == static_cast<size_t>(w->out * w->rank),
                a.path, ": the adapter on layer ", l, " ", lora_target_name(static_cast<LoraTarget>(t)), " is [",
                w->out, ", ", w->in, "] but the model's weight is [", m.rows, ", ", m.cols, "]");
      }
  }
  auto attachment = std::make_shared<Attachment>();
  // One chain node per (adapter, module[, expert]), built back to front so the chain runs
  // in the order the adapters were given.
  auto chain = [&](LoraTarget t, int l, int64_t expert) {
    const LoraDelta* head = nullptr;
    for (auto it = adapters.rbegin(); it != adapters.rend(); ++it) {
      const LoraWeights* w = it->lora->layers[static_cast<size_t>(l)].get(t);
      if (!w) continue;
      attachment->node_adapter.push_back(static_cast<size_t>(adapters.rend() - it) - 1);
      LoraDelta& d = attachment->nodes.emplace_back();
      if (expert >= 0) {
        d.a = expert_a(*w, expert);
        d.b = attachment->expert_b.emplace_back(expert_b(*w, expert)).data();
      } else {
        d.a = w->a.data();
        d.b = w->b.data();
      }
      d.rank = w->rank;
      d.scale = static_cast<float>(it->scale * it->lora->config.scale());
      d.next = head;
      head = &d;
    }
    return head;
  };
  for (int l = 0; l < n_layers; ++l) {
    LayerWeights& lw = model.weights.layers[static_cast<size_t>(l)];
    lw.expert_gate_up_lora.clear();
    lw.expert_down_lora.clear();
    for (LoraTarget t : {LoraTarget::ExpertGateUp, LoraTarget::ExpertDown}) {
      bool any = false;
      for (const LoadedAdapter& a : adapters) any = any || a.lora->layers[static_cast<size_t>(l)].get(t);
      if (!any) continue;
      auto& chains = t == LoraTarget::ExpertGateUp ? lw.expert_gate_up_lora : lw.expert_down_lora;
      for (int64_t e = 0; e < model.config.n_experts; ++e) chains.push_back(chain(t, l, e));
    }
  }
  for (int l = 0; l < n_layers; ++l)
    for (int t = 0; t < kLoraTargetCount; ++t) {
      if (is_expert_target(static_cast<LoraTarget>(t))) continue;
      WeightMatrix& m = adapted_matrix(model.weights, l, static_cast<LoraTarget>(t));
      m.lora_row_offset = 0;
      m.lora = chain(static_cast<LoraTarget>(t), l, -1);
    }
  for (const LoadedAdapter& a : adapters) {
    attachment->adapters.push_back(a.lora);
    attachment->adapter_factor.push_back(a.lora->config.scale());
  }
  model.lora_attachment = adapters.empty() ? nullptr : std::shared_ptr<const void>(attachment);
}

void set_adapter_scales(const Model& model, const std::vector<double>& scales) {
  Attachment* attachment = attachment_of(model);
  const size_t count = attachment ? attachment->adapters.size() : 0;
  require(scales.size() == count, "internal: ", scales.size(), " LoRA scales for ", count, " attached adapters");
  for (double s : scales) require(std::isfinite(s), "a LoRA scale must be a finite number");
  if (!attachment) return;
  for (size_t i = 0; i < attachment->nodes.size(); ++i) {
    const size_t k = attachment->node_adapter[i];
    attachment->nodes[i].scale = static_cast<float>(scales[k] * attachment->adapter_factor[k]);
  }
}

size_t attached_adapter_count(const Model& model) {
  const Attachment* attachment = attachment_of(model);
  return attachment ? attachment->adapters.size() : 0;
}

void add_merged_row(const std::vector<LoadedAdapter>& adapters, int layer, LoraTarget target, int64_t row,
                    float* values, int64_t cols) {
  std::vector<double> delta(static_cast<size_t>(cols), 0.0);
  bool any = false;
  for (const LoadedAdapter& a : adapters) {
    const LoraWeights* w = a.lora->layers.at(static_cast<size_t>(layer)).get(target);
    if (!w || a.scale == 0) continue;
    if (w->experts > 0) {  // row runs over all experts' rows: [E · out]
      require(w->in == cols && row < w->out * w->experts, a.path,
              ": adapter shape does not fit the expert weight it merges into");
      add_expert_delta_row(*w, row / w->out, a.scale * a.lora->config.scale(), row % w->out, delta.data());
      any = true;
      continue;
    }
    require(w->in == cols && row < w->out, a.path, ": adapter shape does not fit the weight it merges into");
    const double s = a.scale * a.lora->config.scale();
    for (int64_t j = 0; j < w->rank; ++j) {
      const double coef = s * w->b[static_cast<size_t>(row * w->rank + j)];
      if (coef == 0) continue;
      const float* arow = &w->a[static_cast<size_t>(j * cols)];
      for (int64_t c = 0; c < cols; ++c) delta[static_cast<size_t>(c)] += coef * arow[c];
      any = true;
    }
  }
  if (any)
    for (int64_t c = 0; c < cols; ++c) values[c] = static_cast<float>(values[c] + delta[static_cast<size_t>(c)]);
}

}  // namespace facet::train
