// Owned f32 copies of a decoder's tensors, bound as a Model, with gradients.
#include "train/full_model.h"

#include <map>

#include "model/random_init.h"
#include "model/tensor_manifest.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace facet::train {
namespace {

// A WeightSource over f32 buffers it owns: what the Model's matrix views point into.
class OwnedF32Source : public WeightSource {
 public:
  std::vector<float>& add(const std::string& name, std::vector<int64_t> shape) {
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    Entry& e = entries_[name];
    e.values.assign(static_cast<size_t>(numel), 0.0f);
    e.view.dtype = DType::F32;
    e.view.shape = std::move(shape);
    e.view.data = reinterpret_cast<const uint8_t*>(e.values.data());
    return e.values;
  }
  const TensorView* find(const std::string& name) const override {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second.view;
  }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [name, e] : entries_) out.push_back(name);
    return out;
  }
  std::string format() const override { return "f32 training copy"; }
  std::vector<float>* buffer(const std::string& name) {
    auto it = entries_.find(name);
    require(it != entries_.end(), "internal: ", name, " is not in the training copy");
    return &it->second.values;
  }
  uint64_t file_bytes() const override {
    uint64_t bytes = 0;
    for (const auto& [name, e] : entries_) bytes += e.values.size() * sizeof(float);
    return bytes;
  }

 private:
  struct Entry {
    std::vector<float> values;
    TensorView view;
  };
  std::map<std::string, Entry> entries_;  // node-based: addresses stay put
};

// The Model's own vector for a norm weight (the forward reads it there), by GGUF name.
std::vector<float>* norm_vector(ModelWeights& w, const TensorSpec& spec) {
  const std::string& name = spec.gguf_name;
  if (name == "output_norm.weight") return &w.output_norm;
  if (name == "per_layer_proj_norm.weight") return &w.ple_proj_norm;
  require(spec.layer >= 0, "internal: norm ", name, " has no layer");
  LayerWeights& l = w.layers[static_cast<size_t>(spec.layer)];
  const std::string suffix = name.substr(name.find('.', 4) + 1);  // after "blk.N."
  if (suffix == "attn_norm.weight") return &l.attn_norm;
  if (suffix == "attn_q_norm.weight") return &l.q_norm;
  if (suffix == "attn_k_norm.weight") return &l.k_norm;
  if (suffix == "post_attention_norm.weight") return &l.post_attn_norm;
  if (suffix == "ffn_norm.weight") return &l.ffn_norm;
  if (suffix == "post_ffw_norm.weight") return &l.post_ffw_norm;
  if (suffix == "post_norm.weight") return &l.ple_post_norm;
  fail("internal: full training does not know the norm ", name);
}

void check_trainable(const ModelConfig& config) {
  require(!config.has_moe(), "full-parameter training of MoE models (", config.n_experts,
          " experts) is not supported yet; train a LoRA adapter with `facet finetune` instead");
}

// Builds the owned copies with `fill(spec, values)` and binds a Model to them.
template <typename Fill>
std::unique_ptr<Model> build_owned(const ModelConfig& config, const std::string& path, Fill fill,
                                   OwnedF32Source*& source_out) {
  check_trainable(config);
  auto source = std::make_unique<OwnedF32Source>();
  for (const TensorSpec& spec : tensor_manifest(config)) {
    if (spec.role == TensorRole::RopeFreqs) continue;  // derived from the config, not trained
    fill(spec, source->add(spec.gguf_name, spec.shape));
  }
  source_out = source.get();
  return make_model(path, config, std::move(source));
}

}  // namespace

FullModel::FullModel(std::unique_ptr<Model> model, void* owned_source) : model_(std::move(model)) {
  auto& source = *static_cast<OwnedF32Source*>(owned_source);
  ModelWeights& w = model_->weights;
  for (const LayerWeights& l : w.layers) scalars_.push_back(std::make_unique<std::vector<float>>(1, l.layer_scalar));
  for (const TensorSpec& spec : tensor_manifest(model_->config)) {
    if (spec.role == TensorRole::RopeFreqs) continue;
    Param p;
    p.name = spec.gguf_name;
    p.shape = spec.shape;
    const void* address = nullptr;
    if (spec.role == TensorRole::Norm) {
      p.value = norm_vector(w, spec);
      address = p.value->data();
    } else if (spec.role == TensorRole::LayerScalar) {
      p.value = scalars_[static_cast<size_t>(spec.layer)].get();
      address = &w.layers[static_cast<size_t>(spec.layer)].layer_scalar;
    } else if (spec.role == TensorRole::Embedding || spec.role == TensorRole::Matrix) {
      p.value = source.buffer(spec.gguf_name);
      address = p.value->data();  // the Model's view of it starts here
    } else {
      fail("internal: full training does not handle tensor ", spec.gguf_name);
    }
    p.grad.assign(p.value->size(), 0.0f);
    by_address_[address] = params_.size();
    params_.push_back(std::move(p));
  }
}

std::unique_ptr<FullModel> FullModel::copy_of(const Model& source) {
  OwnedF32Source* owned = nullptr;
  auto model = build_owned(source.config, source.path, [&](const TensorSpec& spec, std::vector<float>& values) {
    const TensorView* t = source.source->find(spec.gguf_name);
    require(t != nullptr, source.path, ": tensor ", spec.gguf_name, " is missing");
    require(t->numel() == static_cast<int64_t>(values.size()), source.path, ": tensor ", spec.gguf_name,
            " has shape ", shape_string(t->shape), ", expected ", shape_string(spec.shape));
    const int64_t row = t->row_length(), rows = t->row_count();
    for (int64_t r = 0; r < rows; ++r) row_to_f32(t->dtype, t->row(r), &values[static_cast<size_t>(r * row)], row);
  }, owned);
  return std::unique_ptr<FullModel>(new FullModel(std::move(model), owned));
}

std::unique_ptr<FullModel> FullModel::random(const ModelConfig& config, uint64_t seed, const std::string& path) {
  OwnedF32Source* owned = nullptr;
  auto model = build_owned(config, path, [&](const TensorSpec& spec, std::vector<float>& values) {
    fill_random(init_rule(spec, config), tensor_key(seed, spec.gguf_name), 0, static_cast<int64_t>(values.size()),
                values.data());
  }, owned);
  return std::unique_ptr<FullModel>(new FullModel(std::move(model), owned));
}

std::vector<std::pair<std::vector<float>*, std::vector<float>*>> FullModel::parameters() {
  std::vector<std::pair<std::vector<float>*, std::vector<float>*>> out;
  for (Param& p : params_) out.emplace_back(p.value, &p.grad);
  return out;
}

void FullModel::zero_grad() {
  for (Param& p : params_) std::fill(p.grad.begin(), p.grad.end(), 0.0f);
}

void FullModel::sync_after_update() {
  for (size_t l = 0; l < scalars_.size(); ++l) model_->weights.layers[l].layer_scalar = (*scalars_[l])[0];
}

int64_t FullModel::parameter_count() const {
  int64_t n = 0;
  for (const Param& p : params_) n += static_cast<int64_t>(p.value->size());
  return n;
}

const FullModel::Param* FullModel::find(const std::string& gguf_name) const {
  for (const Param& p : params_)
    if (p.name == gguf_name) return &p;
  return nullptr;
}

std::vector<float>* FullModel::grad_of(const void* weight_data) {
  auto it = by_address_.find(weight_data);
  return it == by_address_.end() ? nullptr : &params_[it->second].grad;
}

}  // namespace facet::train
