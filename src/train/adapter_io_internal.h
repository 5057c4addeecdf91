// Shared by the adapter readers: collects A/B factors by (layer, module), checks them
// against the model, and assembles the LoraModel.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "train/lora.h"

namespace facet::train::detail {

class AdapterBuilder {
 public:
  AdapterBuilder(const Model& model, std::string path, std::vector<std::string>* warnings)
      : model_(model), path_(std::move(path)), warnings_(warnings) {}

  // A factor of the module on (layer, target), read from tensor `name` of the file.
  // `dead_kv_ok`: K/V factors on layers that do not own K/V are dropped with a warning
  // (PEFT files from transformers 5.5); otherwise they are an error (llama.cpp's rule).
  void add(int layer, LoraTarget target, bool is_b, const std::string& name, const TensorView& view, bool dead_kv_ok);
  void warn(const std::string& message) const;
  // An expert factor already converted to f32 and rearranged into PEFT's ParamWrapper
  // layout (A [r·E, in] or B [out, r·E]) by the GGUF reader.
  void add_converted(int layer, LoraTarget target, bool is_b, const std::string& name, std::vector<int64_t> shape,
                     std::vector<float> values);

  // Pairs the factors and checks their shapes. `module_scale(layer, target, rank)` is the
  // scale the file gives that module; it is folded into B where it differs from
  // config.scale(). config.targets is set to the targets found.
  LoraModel build(LoraConfig config, const std::function<double(int, LoraTarget, int64_t)>& module_scale);

  const std::string& path() const { return path_; }

 private:
  struct Factor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> values;
  };
  struct Module {
    std::optional<Factor> a, b;
  };
  // An expert parameter's factors (PEFT ParamWrapper layout), checked and scaled.
  LoraWeights expert_module(int layer, LoraTarget target, Module& m, const LoraConfig& config,
                            const std::function<double(int, LoraTarget, int64_t)>& module_scale);

  const Model& model_;
  std::string path_;
  std::vector<std::string>* warnings_;
  std::map<std::pair<int, int>, Module> modules_;
  std::set<std::pair<int, int>> ignored_;  // dead K/V modules already warned about
};

// Whether two scales are equal to within f32 rounding (then no folding is done, so files
// that store alpha in f32 round-trip bit for bit).
bool same_scale(double a, double b);

LoraModel load_peft_adapter(const std::string& path, const Model& model, std::vector<std::string>* warnings);
LoraModel load_gguf_adapter(const std::string& path, const Model& model, std::vector<std::string>* warnings);

}  // namespace facet::train::detail
