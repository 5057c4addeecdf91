// Full-parameter training (`facet pretrain`, `facet finetune --full`): every tensor of the
// decoder held as owned, mutable f32 with a gradient of the same shape.
//
// A FullModel copies a loaded model's tensors (any dtype, dequantized) into f32 buffers and
// binds an ordinary Model to them, so the training pass and the optimizer see one set of
// numbers: matrices and embedding tables are views of the owned buffers, norm weights are
// the Model's own vectors (updated in place), and each layer's output scalar, which the
// Model holds by value, is copied back after every update (sync_after_update).
//
// The training pass finds a parameter's gradient by the address the forward reads it from
// (grad_of): a matrix's data pointer, a norm vector's data(), &layer_scalar.
// MoE decoders are refused for now (their experts' and router's full gradients are not
// written); LoRA on a MoE model works as before.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/model.h"

namespace facet::train {

class FullModel {
 public:
  struct Param {
    std::string name;              // GGUF tensor name
    std::vector<int64_t> shape;    // outermost first
    std::vector<float>* value;     // the numbers the forward reads
    std::vector<float> grad;
  };

  // An f32 copy of every decoder tensor of `source`. Throws Error for a MoE model.
  static std::unique_ptr<FullModel> copy_of(const Model& source);
  // Random initial weights for `config` (the generator's recipe, model/random_init.h,
  // kept in f32), with no file behind them. `path` only names the model in messages.
  static std::unique_ptr<FullModel> random(const ModelConfig& config, uint64_t seed, const std::string& path);
  FullModel(const FullModel&) = delete;
  FullModel& operator=(const FullModel&) = delete;

  Model& model() { return *model_; }
  const Model& model() const { return *model_; }
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }

  // (value, grad) pairs in tensor-manifest order, the form the optimizer and the
  // checkpoints take (as LoraModel::parameters()).
  std::vector<std::pair<std::vector<float>*, std::vector<float>*>> parameters();
  void zero_grad();
  // Copies the updated layer scalars into the Model (call after every optimizer step or
  // restore).
  void sync_after_update();
  int64_t parameter_count() const;
  const Param* find(const std::string& gguf_name) const;

  // The gradient buffer of the parameter the forward reads at `weight_data`, or null.
  std::vector<float>* grad_of(const void* weight_data);

 private:
  FullModel(std::unique_ptr<Model> model, void* owned_source);

  std::unique_ptr<Model> model_;
  std::vector<Param> params_;
  std::vector<std::unique_ptr<std::vector<float>>> scalars_;  // one per layer ([1] each)
  std::unordered_map<const void*, size_t> by_address_;
};

}  // namespace facet::train
