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
#include "model/manifest_hf_source.h"
#include "model/model.h"
#include "model/tensor_manifest.h"
#include "util/error.h"

namespace facet {
namespace {

// The text decoder's tensors under the folder's prefix, pre-quantized bitsandbytes weights
// decoded at load; a decoder tensor in a dtype facet cannot read is an error at once.
class HfWeightSource : public ManifestHfSource {
 public:
  HfWeightSource(std::unique_ptr<SafetensorsSet> set_in, const ModelConfig& config)
      : ManifestHfSource(std::move(set_in)) {
    const SafetensorsSet& files = set();
    for (const char* p : {kHfPrefixMultimodal, kHfPrefixText})
      if (files.find(std::string(p) + "embed_tokens.weight") != nullptr) {
        prefix_ = p;
        break;
      }
    require(!prefix_.empty(), files.path(), ": no text decoder found (expected ", kHfPrefixMultimodal,
            "embed_tokens.weight or ", kHfPrefixText, "embed_tokens.weight)");
    for (const TensorSpec& spec : tensor_manifest(config)) {
      if (spec.hf_name.empty()) continue;
      const std::string hf = prefix_ + spec.hf_name;
      add_name(spec.gguf_name, hf);
      const SafetensorsTensor* t = files.find(hf);
      if (t == nullptr) continue;
      if (is_bnb_4bit_weight(files, hf)) {  // a pre-quantized bitsandbytes (QLoRA) weight
        decoded_.push_back(load_bnb_nf4_weight(files, hf));
        add_view(spec.gguf_name, decoded_.back().view);
        continue;
      }
      require(t->dtype_name != "U8", files.path(), ": tensor ", hf,
              " is U8 but has no bitsandbytes quant state (", hf, ".absmax, ", hf,
              ".quant_state.bitsandbytes__nf4)");
      require(t->supported, files.path(), ": tensor ", hf, " has dtype ", t->dtype_name,
              ", which facet cannot compute with (supported: F32, F16, BF16)");
      add_view(spec.gguf_name, t->view);
    }
  }

 private:
  std::string prefix_;
  std::list<BnbWeight> decoded_;  // NF4 weights decoded at load (views point here)
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
