// Adapter loading: format detection and the checks every reader shares.
#include "train/adapter_io.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "model/tensor_manifest.h"
#include "tensor/convert.h"
#include "train/adapter_io_internal.h"
#include "train/adapter_names.h"
#include "train/expert_lora.h"
#include "util/error.h"

namespace facet::train {
namespace detail {
namespace {

std::vector<float> to_f32(const TensorView& view, const std::string& where, const std::string& name) {
  require(view.dtype == DType::F32 || view.dtype == DType::F16 || view.dtype == DType::BF16 ||
              view.dtype == DType::Q8_0,
          where, ": tensor ", name, " has type ", dtype_name(view.dtype), " (LoRA factors must be F32, F16, BF16 or Q8_0)");
  require(view.rank() == 2, where, ": tensor ", name, " has shape ", shape_string(view.shape),
          " (LoRA factors are matrices)");
  std::vector<float> out(static_cast<size_t>(view.numel()));
  const int64_t row = view.row_length();
  for (int64_t r = 0; r < view.row_count(); ++r) row_to_f32(view.dtype, view.row(r), out.data() + r * row, row);
  for (float v : out) require(std::isfinite(v), where, ": tensor ", name, " holds a NaN or infinite value");
  return out;
}

}  // namespace

bool same_scale(double a, double b) { return std::fabs(a - b) <= 1e-6 * std::max(std::fabs(a), std::fabs(b)); }

void AdapterBuilder::warn(const std::string& message) const {
  if (warnings_) warnings_->push_back(message);
  else std::fprintf(stderr, "warning: %s\n", message.c_str());
}

void AdapterBuilder::add(int layer, LoraTarget target, bool is_b, const std::string& name, const TensorView& view,
                         bool dead_kv_ok) {
  const int n_layers = model_.config.n_layers;
  require(layer >= 0 && layer < n_layers, path_, ": tensor ", name, " is for layer ", layer, ", but the model has ",
          n_layers, " layers (an adapter for another model?)");
  if (is_expert_target(target)) {
    require(model_.config.has_moe(), path_, ": tensor ", name, " adapts the MoE experts (", lora_target_name(target),
            "), but this model has no MoE block (an adapter for another model?)");
  } else if (adapted_matrix(model_.weights, layer, target).rows == 0) {
    const LayerConfig& lc = model_.config.layers[static_cast<size_t>(layer)];
    const bool dead_kv = (target == LoraTarget::K || target == LoraTarget::V) && !lc.owns_kv;
    if (dead_kv && dead_kv_ok) {
      if (ignored_.insert({layer, static_cast<int>(target)}).second)
        warn(str_cat(path_, ": ignoring the ", hf_module_path(target), " adapter of layer ", layer,
                     " (the layer borrows K/V from an earlier layer, so that weight is unused)"));
      return;
    }
    fail(path_, ": tensor ", name, " adapts ", hf_module_path(target), " of layer ", layer,
         ", which this model does not have", dead_kv ? " (the layer borrows K/V from an earlier layer)"
         : target == LoraTarget::V ? " (the layer uses K as V)" : "", " (an adapter for another model?)");
  }
  Module& m = modules_[{layer, static_cast<int>(target)}];
  std::optional<Factor>& slot = is_b ? m.b : m.a;
  require(!slot, path_, ": two tensors for ", name);
  slot = Factor{name, view.shape, to_f32(view, path_, name)};
}

void AdapterBuilder::add_converted(int layer, LoraTarget target, bool is_b, const std::string& name,
                                   std::vector<int64_t> shape, std::vector<float> values) {
  require(layer >= 0 && layer < model_.config.n_layers, path_, ": tensor ", name, " is for layer ", layer,
          ", but the model has ", model_.config.n_layers, " layers (an adapter for another model?)");
  require(!is_expert_target(target) || model_.config.has_moe(), path_, ": tensor ", name,
          " adapts the MoE experts, but this model has no MoE block (an adapter for another model?)");
  for (float v : values) require(std::isfinite(v), path_, ": tensor ", name, " holds a NaN or infinite value");
  std::optional<Factor>& slot = is_b ? modules_[{layer, static_cast<int>(target)}].b
                                     : modules_[{layer, static_cast<int>(target)}].a;
  require(!slot, path_, ": two tensors for ", name);
  slot = Factor{name, std::move(shape), std::move(values)};
}

LoraWeights AdapterBuilder::expert_module(int layer, LoraTarget target, Module& m, const LoraConfig& config,
                                          const std::function<double(int, LoraTarget, int64_t)>& module_scale) {
  // PEFT ParamWrapper layout (expert_lora.h): A [r·E, in], B [out, r·E].
  const ExpertShape shape = expert_target_shape(model_.config, target);
  const int64_t E = shape.experts;
  const int64_t rows = m.a->shape[0];
  const int64_t rank = rows % E == 0 ? rows / E : 0;
  const std::string where = str_cat("layer ", layer, " ", lora_target_name(target), " (", E, " experts of [", shape.out,
                                    ", ", shape.in, "])");
  require(rank > 0 && m.a->shape[1] == shape.in, path_, ": tensor ", m.a->name, " has shape ",
          shape_string(m.a->shape), ", expected [r·", E, ", ", shape.in, "] for ", where);
  require(m.b->shape[0] == shape.out && m.b->shape[1] == rows, path_, ": tensor ", m.b->name, " has shape ",
          shape_string(m.b->shape), ", expected [", shape.out, ", ", rows, "] for ", where);
  LoraWeights w;
  w.in = shape.in;
  w.out = shape.out;
  w.rank = rank;
  w.experts = E;
  w.a = std::move(m.a->values);
  w.b = std::move(m.b->values);
  const double s = module_scale(layer, target, rank);
  if (!same_scale(s, config.scale()))
    for (float& v : w.b) v = static_cast<float>(v * (s / config.scale()));
  w.grad_a.assign(w.a.size(), 0.0f);
  w.grad_b.assign(w.b.size(), 0.0f);
  return w;
}

LoraModel AdapterBuilder::build(LoraConfig config,
                                const std::function<double(int, LoraTarget, int64_t)>& module_scale) {
  require(!modules_.empty(), path_, ": the adapter has no LoRA tensor for this model's text decoder");
  LoraModel lora;
  lora.layers.resize(static_cast<size_t>(model_.config.n_layers));
  std::vector<LoraTarget> targets;
  for (auto& [key, m] : modules_) {
    const auto [layer, t] = key;
    const LoraTarget target = static_cast<LoraTarget>(t);
    require(m.a.has_value(), path_, ": ", m.b->name, " has no matching lora_A / lora_a tensor");
    require(m.b.has_value(), path_, ": ", m.a->name, " has no matching lora_B / lora_b tensor");
    if (is_expert_target(target)) {
      lora.layers[static_cast<size_t>(layer)].modules[static_cast<size_t>(t)] =
          expert_module(layer, target, m, config, module_scale);
      if (std::find(targets.begin(), targets.end(), target) == targets.end()) targets.push_back(target);
      continue;
    }
    const WeightMatrix& base = adapted_matrix(model_.weights, layer, target);
    const int64_t rank = m.a->shape[0];
    require(rank > 0 && m.a->shape[1] == base.cols, path_, ": tensor ", m.a->name, " has shape ",
            shape_string(m.a->shape), ", expected [r, ", base.cols, "] for layer ", layer, " ", hf_module_path(target),
            " (an adapter for another model?)");
    require(m.b->shape[0] == base.rows && m.b->shape[1] == rank, path_, ": tensor ", m.b->name, " has shape ",
            shape_string(m.b->shape), ", expected [", base.rows, ", ", rank, "] for layer ", layer, " ",
            hf_module_path(target), " (an adapter for another model?)");
    LoraWeights w;
    w.in = base.cols;
    w.out = base.rows;
    w.rank = rank;
    w.a = std::move(m.a->values);
    w.b = std::move(m.b->values);
    const double s = module_scale(layer, target, rank);
    if (!same_scale(s, config.scale())) {
      const double fold = s / config.scale();
      for (float& v : w.b) v = static_cast<float>(v * fold);
    }
    w.grad_a.assign(w.a.size(), 0.0f);
    w.grad_b.assign(w.b.size(), 0.0f);
    lora.layers[static_cast<size_t>(layer)].modules[static_cast<size_t>(t)] = std::move(w);
    if (std::find(targets.begin(), targets.end(), target) == targets.end()) targets.push_back(target);
  }
  std::sort(targets.begin(), targets.end());
  config.targets = targets;
  lora.config = config;
  return lora;
}

}  // namespace detail

LoraModel load_adapter(const std::string& path, const Model& model, std::vector<std::string>* warnings) {
  namespace fs = std::filesystem;
  std::error_code ec;
  require(fs::exists(path, ec), "LoRA adapter ", path, ": no such file or folder");
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "adapter_model.safetensors"))
      return detail::load_peft_adapter(path, model, warnings);
    require(!fs::exists(fs::path(path) / "adapter_model.bin"), path,
            ": adapter_model.bin is a PyTorch pickle, which facet does not read; save the adapter with "
            "safe_serialization=True (the PEFT default) to get adapter_model.safetensors");
    fail(path, ": not a PEFT adapter folder (no adapter_model.safetensors)");
  }
  char magic[4] = {0, 0, 0, 0};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  if (std::string(magic, 4) == "GGUF") return detail::load_gguf_adapter(path, model, warnings);
  return detail::load_peft_adapter(path, model, warnings);
}

}  // namespace facet::train
