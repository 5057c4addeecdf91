// Loading a Hugging Face model folder as downloaded: config.json + safetensors (one file
// or shards with model.safetensors.index.json). Text-decoder tensors are found under
// "model.language_model." (multimodal checkpoints) or "model." (text-only exports) and
// translated to GGUF names with the tensor manifest; everything else (vision and audio
// towers, dead K/V weights of KV-shared layers) is left untouched.
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <sstream>

#include "formats/safetensors.h"
#include "model/bnb_nf4.h"
#include "model/model.h"
#include "model/tensor_manifest.h"
#include "util/error.h"

namespace facet {
namespace {

class HfWeightSource : public WeightSource {
 public:
  HfWeightSource(std::unique_ptr<SafetensorsSet> set, const ModelConfig& config) : set_(std::move(set)) {
    for (const char* p : {kHfPrefixMultimodal, kHfPrefixText})
      if (set_->find(std::string(p) + "embed_tokens.weight") != nullptr) {
        prefix_ = p;
        break;
      }
    require(!prefix_.empty(), set_->path(), ": no text decoder found (expected ", kHfPrefixMultimodal,
            "embed_tokens.weight or ", kHfPrefixText, "embed_tokens.weight)");
    for (const TensorSpec& spec : tensor_manifest(config)) {
      if (spec.hf_name.empty()) continue;
      const std::string hf = prefix_ + spec.hf_name;
      hf_names_[spec.gguf_name] = hf;
      const SafetensorsTensor* t = set_->find(hf);
      if (t == nullptr) continue;
      if (is_bnb_4bit_weight(*set_, hf)) {  // a pre-quantized bitsandbytes (QLoRA) weight
        decoded_.push_back(load_bnb_nf4_weight(*set_, hf));
        views_[spec.gguf_name] = decoded_.back().view;
        continue;
      }
      require(t->dtype_name != "U8", set_->path(), ": tensor ", hf,
              " is U8 but has no bitsandbytes quant state (", hf, ".absmax, ", hf,
              ".quant_state.bitsandbytes__nf4)");
      require(t->supported, set_->path(), ": tensor ", hf, " has dtype ", t->dtype_name,
              ", which facet cannot compute with (supported: F32, F16, BF16)");
      views_[spec.gguf_name] = t->view;
    }
  }

  const TensorView* find(const std::string& gguf_name) const override {
    auto it = views_.find(gguf_name);
    return it == views_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const override { return set_->names(); }
  std::string format() const override { return "safetensors"; }
  uint64_t file_bytes() const override {
    uint64_t total = 0;
    for (const auto& f : set_->files()) total += f->file_size();
    return total;
  }
  std::string source_name(const std::string& gguf_name) const override {
    auto it = hf_names_.find(gguf_name);
    return it == hf_names_.end() ? gguf_name : it->second;
  }

 private:
  std::unique_ptr<SafetensorsSet> set_;
  std::string prefix_;
  std::map<std::string, TensorView> views_;       // by GGUF name
  std::map<std::string, std::string> hf_names_;   // GGUF name -> HF name
  std::list<BnbWeight> decoded_;                  // NF4 weights decoded at load (views point here)
};

}  // namespace

std::unique_ptr<Model> load_hf_model(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string config_path = (fs::path(dir) / "config.json").string();
  require(fs::exists(config_path), dir, ": not a model folder (no config.json)");
  ModelConfig config = ModelConfig::from_hf_file(config_path);
  {
    std::ifstream in(config_path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (json.is_object()) check_quantization_config(json, config_path);
  }
  if (config.name.empty()) config.name = fs::path(dir).filename().string();
  auto source = std::make_unique<HfWeightSource>(SafetensorsSet::open(dir), config);
  return make_model(dir, std::move(config), std::move(source));
}

}  // namespace facet
