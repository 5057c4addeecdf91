// HF-folder output of the random-model generator: config.json, tokenizer.json and
// safetensors shards.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "model/model_writer.h"
#include "model/random_model.h"
#include "model/test_vocabulary.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {

std::vector<TensorSpec> hf_tensor_specs(const ModelConfig& c, bool dead_kv) {
  std::vector<TensorSpec> specs;
  for (TensorSpec& spec : tensor_manifest(c)) {
    if (spec.hf_name.empty()) continue;  // GGUF-only (rope_freqs)
    specs.push_back(std::move(spec));
    const TensorSpec& added = specs.back();
    // Released E2B/E4B checkpoints keep unused k/v/k_norm on KV-shared layers; insert them
    // after q_norm as those files do. Their seed names follow the GGUF naming scheme.
    if (!dead_kv || added.layer < 0 || c.layers[static_cast<size_t>(added.layer)].owns_kv ||
        !added.gguf_name.ends_with(".attn_q_norm.weight"))
      continue;
    const LayerConfig& l = c.layers[static_cast<size_t>(added.layer)];
    const std::string g = "blk." + std::to_string(added.layer) + ".";
    const std::string h = "layers." + std::to_string(added.layer) + ".";
    const int64_t kv_rows = int64_t{l.n_kv_heads} * l.head_dim;
    specs.push_back({g + "attn_k.weight", h + "self_attn.k_proj.weight", {kv_rows, c.hidden_size}, TensorRole::Matrix, added.layer});
    specs.push_back({g + "attn_k_norm.weight", h + "self_attn.k_norm.weight", {l.head_dim}, TensorRole::Norm, added.layer});
    if (!l.k_eq_v)
      specs.push_back({g + "attn_v.weight", h + "self_attn.v_proj.weight", {kv_rows, c.hidden_size}, TensorRole::Matrix, added.layer});
  }
  return specs;
}

namespace {

// HF's own default shard limit.
constexpr uint64_t kMaxShardBytes = 5'000'000'000ull;

}  // namespace

const char* torch_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    default: return "float32";
  }
}

GeneratedModel write_random_hf(const ModelConfig& c, const GeneratorOptions& options, const std::string& dir) {
  namespace fs = std::filesystem;
  const auto start = std::chrono::steady_clock::now();
  create_output_folder(dir);
  std::error_code ec;

  nlohmann::json config = options.multimodal_layout ? hf_multimodal_config_json(c) : hf_config_json(c);
  config["torch_dtype"] = torch_dtype_name(options.dtype);
  SafetensorsWriter writer;
  if (options.extra_hf_parts) options.extra_hf_parts(config, writer);
  write_text_file(dir + "/config.json", config.dump(2) + "\n");
  if (options.hf_tokenizer_json.empty()) {
    write_text_file(dir + "/tokenizer.json", hf_tokenizer_json(synthetic_vocabulary(c.vocab_size)).dump() + "\n");
  } else {
    fs::copy_file(options.hf_tokenizer_json, dir + "/tokenizer.json", fs::copy_options::overwrite_existing, ec);
    require(!ec, options.hf_tokenizer_json, ": cannot copy into ", dir, ": ", ec.message());
  }

  ThreadPool pool(options.threads);
  const std::string prefix = options.multimodal_layout ? kHfPrefixMultimodal : kHfPrefixText;
  const std::vector<TensorSpec> specs = hf_tensor_specs(c, options.dead_kv);
  writer.set_metadata("format", "pt");
  for (const TensorSpec& spec : specs)
    writer.add_tensor(prefix + spec.hf_name, options.dtype, spec.shape, [&](uint8_t* dst, size_t) {
      produce_tensor(spec, c, options, options.dtype, dst, pool);
    });

  std::vector<std::string> files = writer.write_sharded(dir, kMaxShardBytes);
  files.push_back(dir + "/config.json");
  files.push_back(dir + "/tokenizer.json");
  return generated_model_report(std::move(files), static_cast<int64_t>(writer.tensor_count()), start);
}

}  // namespace facet
