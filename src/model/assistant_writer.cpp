// Random drafters for tests and benchmarks: the manifest's tensors drawn by the same
// seeded recipe as random target models (random_init.h), written as GGUF or HF.
#include <chrono>
#include <nlohmann/json.hpp>
#include <numeric>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/assistant.h"
#include "model/model_writer.h"
#include "model/random_init.h"
#include "tensor/convert.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

using nlohmann::json;

// The drafter's layers as an ordinary decoder config (each layer "owning" its KV): what the
// shared init recipe, RoPE-factor and HF-config helpers expect.
ModelConfig stand_in_config(const AssistantConfig& a) {
  ModelConfig c;
  c.name = a.name;
  c.vocab_size = a.vocab_size;
  c.hidden_size = a.hidden_size;
  c.n_layers = a.n_layers;
  c.n_heads = a.n_heads;
  c.sliding_window = a.sliding_window;
  c.rms_eps = a.rms_eps;
  c.max_context = 131072;
  c.rope_sliding = a.rope_sliding;
  c.rope_full = a.rope_full;
  c.layers = a.layers;
  for (size_t i = 0; i < c.layers.size(); ++i) {
    c.layers[i].owns_kv = true;
    c.layers[i].kv_source = static_cast<int>(i);
  }
  return c;
}

// A seeded permutation of the vocabulary (Fisher-Yates over the counter-based generator).
std::vector<int32_t> random_ordering(const AssistantConfig& a, uint64_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(a.vocab_size));
  std::iota(ids.begin(), ids.end(), 0);
  std::vector<float> u(ids.size());
  fill_random({InitRule::Kind::Uniform, 0.0, 1.0}, tensor_key(seed, "masked_embd_ordering"), 0,
              static_cast<int64_t>(u.size()), u.data());
  for (size_t i = ids.size() - 1; i > 0; --i) {
    size_t j = static_cast<size_t>(u[i] * static_cast<float>(i + 1));
    if (j > i) j = i;
    std::swap(ids[i], ids[j]);
  }
  return ids;
}

// Fills one tensor's values (rounded to the weight dtype) into dst as `storage`.
void produce(const TensorSpec& spec, const ModelConfig& stand_in, const GeneratorOptions& options, DType storage,
             uint8_t* dst) {
  const std::vector<float> values =
      random_tensor_values(init_rule(spec, stand_in), tensor_key(options.seed, spec.gguf_name), spec.shape, options.dtype);
  row_from_f32(storage, values.data(), dst, static_cast<int64_t>(values.size()));
}

}  // namespace

GeneratedModel write_random_assistant_gguf(const AssistantConfig& a, const GeneratorOptions& options,
                                           const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  a.validate("drafter generator");
  const ModelConfig stand_in = stand_in_config(a);
  GgufWriter w;
  auto u32 = [](int64_t v) { return GgufValue::of_u32(static_cast<uint32_t>(v)); };
  auto f32 = [](double v) { return GgufValue::of_f32(static_cast<float>(v)); };
  auto key = [](const char* k) { return std::string("gemma4-assistant.") + k; };
  std::vector<int64_t> ffn, kv_heads, sliding;
  for (const LayerConfig& l : a.layers) {
    ffn.push_back(l.ffn_width);
    kv_heads.push_back(l.n_kv_heads);
    sliding.push_back(l.kind == LayerKind::Sliding ? 1 : 0);
  }
  w.set("general.architecture", GgufValue::of_string("gemma4-assistant"));
  w.set("general.name", GgufValue::of_string(a.name.empty() ? "gemma4-assistant-random" : a.name));
  w.set("general.file_type", u32(gguf_file_type(options.dtype)));
  w.set(key("block_count"), u32(a.n_layers));
  w.set(key("nextn_predict_layers"), u32(a.n_layers));
  w.set(key("context_length"), u32(131072));
  w.set(key("embedding_length"), u32(a.hidden_size));
  w.set(key("embedding_length_out"), u32(a.backbone_hidden_size));
  w.set(key("feed_forward_length"), GgufValue::of_array(GgufType::U32, ffn));
  w.set(key("attention.head_count"), u32(a.n_heads));
  w.set(key("attention.head_count_kv"), GgufValue::of_array(GgufType::U32, kv_heads));
  w.set(key("attention.layer_norm_rms_epsilon"), f32(a.rms_eps));
  w.set(key("attention.key_length"), u32(a.rope_full.head_dim));
  w.set(key("attention.value_length"), u32(a.rope_full.head_dim));
  w.set(key("attention.key_length_swa"), u32(a.rope_sliding.head_dim));
  w.set(key("attention.value_length_swa"), u32(a.rope_sliding.head_dim));
  w.set(key("rope.freq_base"), f32(a.rope_full.theta));
  w.set(key("rope.freq_base_swa"), f32(a.rope_sliding.theta));
  w.set(key("attention.sliding_window"), u32(a.sliding_window));
  w.set(key("attention.sliding_window_pattern"), GgufValue::of_array(GgufType::BOOL, sliding));
  w.set(key("attention.shared_kv_layers"), u32(a.n_layers));
  if (a.ordered_embeddings) w.set(key("centroid_top_k"), u32(a.centroid_top_k));

  const std::vector<TensorSpec> manifest = assistant_manifest(a);
  const std::vector<int32_t> ordering = a.ordered_embeddings ? random_ordering(a, options.seed) : std::vector<int32_t>{};
  for (const TensorSpec& spec : manifest) {
    if (spec.gguf_name == "masked_embd_ordering") {
      w.add_tensor(spec.gguf_name, DType::I32, spec.shape, ordering.data());
      continue;
    }
    const DType storage = spec.shape.size() == 1 ? DType::F32 : options.dtype;
    w.add_tensor(spec.gguf_name, storage, spec.shape,
                 [&, storage](uint8_t* dst, size_t) { produce(spec, stand_in, options, storage, dst); });
  }
  const std::vector<float> freqs = rope_freqs_values(stand_in);
  w.add_tensor("rope_freqs.weight", DType::F32, {static_cast<int64_t>(freqs.size())}, freqs.data());
  w.write(path);
  return generated_model_report({path}, static_cast<int64_t>(manifest.size()) + 1, start);
}

GeneratedModel write_random_assistant_hf(const AssistantConfig& a, const GeneratorOptions& options,
                                         const std::string& dir) {
  const auto start = std::chrono::steady_clock::now();
  a.validate("drafter generator");
  create_output_folder(dir);
  const ModelConfig stand_in = stand_in_config(a);
  json text = hf_config_json(stand_in);
  text["model_type"] = "gemma4_text";
  text["num_kv_shared_layers"] = a.n_layers;
  text.erase("architectures");
  json config = {{"architectures", json::array({"Gemma4AssistantForCausalLM"})},
                 {"model_type", "gemma4_assistant"},
                 {"backbone_hidden_size", a.backbone_hidden_size},
                 {"use_ordered_embeddings", a.ordered_embeddings},
                 {"text_config", text},
                 {"tie_word_embeddings", true},
                 {"torch_dtype", torch_dtype_name(options.dtype)}};
  if (a.ordered_embeddings) {
    config["num_centroids"] = a.n_centroids;
    config["centroid_intermediate_top_k"] = a.centroid_top_k;
  }
  write_text_file(dir + "/config.json", config.dump(2) + "\n");

  const std::vector<TensorSpec> manifest = assistant_manifest(a);
  std::vector<int64_t> ordering;
  if (a.ordered_embeddings)
    for (int32_t id : random_ordering(a, options.seed)) ordering.push_back(id);
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const TensorSpec& spec : manifest) {
    if (spec.gguf_name == "masked_embd_ordering") {
      writer.add_tensor(spec.hf_name, DType::I64, spec.shape, ordering.data());
      continue;
    }
    writer.add_tensor(spec.hf_name, options.dtype, spec.shape,
                      [&](uint8_t* dst, size_t) { produce(spec, stand_in, options, options.dtype, dst); });
  }
  std::vector<std::string> files = writer.write_sharded(dir, 5'000'000'000ull);
  files.push_back(dir + "/config.json");
  return generated_model_report(files, static_cast<int64_t>(manifest.size()), start);
}

}  // namespace facet
