// Gemma 4 drafters: config (GGUF and HF), tensor manifest, loading and the fit check.
#include "model/assistant.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/config_files.h"
#include "model/gguf_source.h"
#include "model/manifest_hf_source.h"
#include "model/tensor_binding.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

constexpr const char* kGgufArch = "gemma4-assistant";

int to_int(int64_t v, const std::string& path, const std::string& key) {
  require(v >= 0 && v <= (1 << 30), path, ": metadata key ", key, " = ", v, " is out of range");
  return static_cast<int>(v);
}

// The part of a gemma4_assistant HF config that is an ordinary Gemma 4 text config,
// parsed by the main model's parser: its layers own no KV of their own, which that parser
// would reject as KV sharing without a source, so it sees them as owning theirs.
ModelConfig inner_text_config(const json& config, const std::string& source) {
  require(config.contains("text_config") && config["text_config"].is_object(), source,
          ": a gemma4_assistant config needs a \"text_config\" object");
  json text = config["text_config"];
  text["model_type"] = "gemma4_text";
  text["num_kv_shared_layers"] = 0;
  text["use_double_wide_mlp"] = false;
  text.erase("enable_moe_block");
  text.erase("hidden_size_per_layer_input");
  return ModelConfig::from_hf_json(text, source);
}

int json_int(const json& j, const char* key, int fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  require(j[key].is_number_integer() && j[key].get<int64_t>() >= 0 && j[key].get<int64_t>() <= (1 << 30), source,
          ": key \"", key, "\" must be a non-negative integer");
  return static_cast<int>(j[key].get<int64_t>());
}

// Copies an integer tensor (I32 or I64) of `n` entries out of mapped bytes.
std::vector<int32_t> read_ordering(const uint8_t* data, bool is_i64, int64_t n) {
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (is_i64) {
      int64_t v;
      std::memcpy(&v, data + 8 * i, 8);
      out[static_cast<size_t>(i)] = v < 0 || v > INT32_MAX ? -1 : static_cast<int32_t>(v);
    } else {
      std::memcpy(&out[static_cast<size_t>(i)], data + 4 * i, 4);
    }
  }
  return out;
}

// A permutation of [0, V) is what the clusters' token lists must be.
void check_ordering(const std::vector<int32_t>& ordering, int vocab, const std::string& where) {
  std::vector<bool> seen(static_cast<size_t>(vocab), false);
  for (int32_t id : ordering) {
    require(id >= 0 && id < vocab && !seen[static_cast<size_t>(id)], where,
            ": the token ordering (masked_embd_ordering) is not a permutation of the ", vocab, " token ids");
    seen[static_cast<size_t>(id)] = true;
  }
}

AssistantWeights bind_assistant(const AssistantConfig& c, const WeightSource& source, const std::string& where) {
  std::map<std::string, TensorSpec> specs;
  for (TensorSpec& s : assistant_manifest(c)) specs.emplace(s.gguf_name, std::move(s));
  auto tensor = [&](const std::string& name) -> const TensorView& {
    const TensorSpec& spec = specs.at(name);
    return checked_tensor(source, spec.gguf_name, spec.shape, where);
  };
  auto matrix = [&](const std::string& name) { return as_matrix(tensor(name)); };
  auto vector = [&](const std::string& name) { return to_f32(tensor(name)); };

  AssistantWeights w;
  w.token_embd = tensor("token_embd.weight");
  w.output_norm = vector("output_norm.weight");
  w.pre_projection = matrix("nextn.pre_projection.weight");
  w.post_projection = matrix("nextn.post_projection.weight");
  if (c.ordered_embeddings) w.centroids = matrix("masked_embd_centroids.weight");
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    AssistantLayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    l.attn_norm = vector(p + "attn_norm.weight");
    l.q = matrix(p + "attn_q.weight");
    l.q_norm = vector(p + "attn_q_norm.weight");
    l.o = matrix(p + "attn_output.weight");
    l.post_attn_norm = vector(p + "post_attention_norm.weight");
    l.ffn_norm = vector(p + "ffn_norm.weight");
    l.gate = matrix(p + "ffn_gate.weight");
    l.up = matrix(p + "ffn_up.weight");
    l.down = matrix(p + "ffn_down.weight");
    l.post_ffw_norm = vector(p + "post_ffw_norm.weight");
    l.layer_scalar = vector(p + "layer_output_scale.weight")[0];
  }
  return w;
}

}  // namespace

void AssistantConfig::validate(const std::string& source) const {
  require(vocab_size > 0 && hidden_size > 0 && backbone_hidden_size > 0 && n_layers > 0 && n_heads > 0 &&
              sliding_window > 0,
          source, ": the drafter's sizes must be positive");
  const int kMaxDim = 1 << 24;
  require(vocab_size < kMaxDim && hidden_size < kMaxDim && backbone_hidden_size < kMaxDim && n_layers < 256 &&
              n_heads < 4096,
          source, ": the drafter's dimensions are implausibly large");
  require(static_cast<int>(layers.size()) == n_layers, source, ": ", layers.size(), " layer entries for ",
          n_layers, " layers");
  for (int i = 0; i < n_layers; ++i) {
    const LayerConfig& l = layers[static_cast<size_t>(i)];
    require(l.head_dim > 0 && l.head_dim % 2 == 0 && l.head_dim == rope(l.kind).head_dim, source, ": layer ", i,
            ": head size ", l.head_dim, " is invalid");
    require(l.ffn_width > 0 && l.ffn_width < kMaxDim, source, ": layer ", i, ": feed-forward width is invalid");
  }
  if (ordered_embeddings) {
    require(n_centroids > 0 && vocab_size % n_centroids == 0, source, ": ", n_centroids,
            " centroids do not split a vocabulary of ", vocab_size, " evenly");
    require(centroid_top_k > 0 && centroid_top_k <= n_centroids, source, ": centroid top-k ", centroid_top_k,
            " must be between 1 and the ", n_centroids, " centroids");
  }
}

AssistantConfig AssistantConfig::from_gguf(const GgufFile& f) {
  const std::string& path = f.path();
  const std::string arch = f.get_string_or("general.architecture", "");
  require(arch == kGgufArch, path, ": general.architecture is \"", arch, "\", not a Gemma 4 drafter (", kGgufArch,
          ")");
  auto key = [](const char* k) { return std::string(kGgufArch) + "." + k; };
  auto get = [&](const char* k) { return to_int(f.get_int(key(k)), path, key(k)); };

  AssistantConfig c;
  c.name = f.get_string_or("general.name", "");
  c.n_layers = get("block_count");
  require(c.n_layers > 0 && c.n_layers < 256, path, ": ", key("block_count"), " = ", c.n_layers, " is invalid");
  const size_t L = static_cast<size_t>(c.n_layers);
  const int nextn = to_int(f.get_int_or(key("nextn_predict_layers"), c.n_layers), path, key("nextn_predict_layers"));
  require(nextn == c.n_layers, path, ": ", key("nextn_predict_layers"), " = ", nextn,
          " must equal the block count (every layer of a Gemma 4 drafter predicts)");
  c.hidden_size = get("embedding_length");
  c.backbone_hidden_size = get("embedding_length_out");
  auto heads = f.get_int_array(key("attention.head_count"), L);
  require(std::all_of(heads.begin(), heads.end(), [&](int64_t h) { return h == heads[0]; }), path, ": ",
          key("attention.head_count"), " must be the same on every layer");
  c.n_heads = to_int(heads[0], path, key("attention.head_count"));
  c.sliding_window = get("attention.sliding_window");
  c.rms_eps = f.get_real_or(key("attention.layer_norm_rms_epsilon"), 1e-6);
  const int d_full = get("attention.key_length");
  const int d_swa = get("attention.key_length_swa");
  c.rope_sliding = make_rope(f.get_real_or(key("rope.freq_base_swa"), 10000.0), d_swa, 1.0);
  c.rope_full = rope_from_freqs_tensor(f, f.get_real_or(key("rope.freq_base"), 1000000.0), d_full);
  const GgufValue* pattern = f.find(key("attention.sliding_window_pattern"));
  require(pattern != nullptr && pattern->is_array() && pattern->integers.size() == L, path, ": ",
          key("attention.sliding_window_pattern"), " must be an array of ", L, " bools");
  auto kv_heads = f.get_int_array(key("attention.head_count_kv"), L);
  auto ffn = f.get_int_array(key("feed_forward_length"), L);
  c.layers.resize(L);
  for (size_t i = 0; i < L; ++i) {
    LayerConfig& l = c.layers[i];
    l.kind = pattern->integers[i] ? LayerKind::Sliding : LayerKind::Full;
    l.head_dim = l.kind == LayerKind::Sliding ? d_swa : d_full;
    l.n_kv_heads = to_int(kv_heads[i], path, key("attention.head_count_kv"));
    l.ffn_width = to_int(ffn[i], path, key("feed_forward_length"));
    l.owns_kv = false;
  }
  const GgufTensor* embd = f.tensor("token_embd.weight");
  require(embd != nullptr && embd->view.rank() == 2, path, ": tensor token_embd.weight is missing");
  c.vocab_size = to_int(embd->view.dim(0), path, "token_embd.weight rows");
  if (const GgufTensor* centroids = f.tensor("masked_embd_centroids.weight"); centroids != nullptr) {
    require(centroids->view.rank() == 2, path, ": tensor masked_embd_centroids.weight must be 2-D");
    c.ordered_embeddings = true;
    c.n_centroids = to_int(centroids->view.dim(0), path, "masked_embd_centroids.weight rows");
    c.centroid_top_k = to_int(f.get_int_or(key("centroid_top_k"), std::min(32, c.n_centroids)), path,
                              key("centroid_top_k"));
  }
  c.validate(path);
  return c;
}

AssistantConfig AssistantConfig::from_hf_json(const json& config, const std::string& source) {
  require(config.is_object(), source, ": config.json must be a JSON object");
  const std::string type = config.value("model_type", std::string());
  require(type == "gemma4_assistant", source, ": model_type is \"", type, "\", not gemma4_assistant");
  const ModelConfig text = inner_text_config(config, source);
  AssistantConfig c;
  c.name = config.value("name", std::string());
  c.vocab_size = text.vocab_size;
  c.hidden_size = text.hidden_size;
  c.n_layers = text.n_layers;
  c.n_heads = text.n_heads;
  c.sliding_window = text.sliding_window;
  c.rms_eps = text.rms_eps;
  c.rope_sliding = text.rope_sliding;
  c.rope_full = text.rope_full;
  c.layers = text.layers;
  for (LayerConfig& l : c.layers) {
    l.owns_kv = false;
    l.k_eq_v = false;
    l.kv_source = 0;
  }
  c.backbone_hidden_size = json_int(config, "backbone_hidden_size", 0, source);
  require(c.backbone_hidden_size > 0, source, ": key \"backbone_hidden_size\" (the target's width) is missing");
  const json& ordered = config.contains("use_ordered_embeddings") ? config["use_ordered_embeddings"] : json(false);
  require(ordered.is_boolean(), source, ": key \"use_ordered_embeddings\" must be true or false");
  c.ordered_embeddings = ordered.get<bool>();
  if (c.ordered_embeddings) {
    c.n_centroids = json_int(config, "num_centroids", 2048, source);
    c.centroid_top_k = json_int(config, "centroid_intermediate_top_k", 32, source);
  }
  c.validate(source);
  return c;
}

std::vector<TensorSpec> assistant_manifest(const AssistantConfig& c) {
  std::vector<TensorSpec> out;
  const int64_t H = c.hidden_size, Hb = c.backbone_hidden_size, V = c.vocab_size;
  auto add = [&](std::string gguf, std::string hf, std::vector<int64_t> shape, TensorRole role, int layer) {
    out.push_back({std::move(gguf), std::move(hf), std::move(shape), role, layer});
  };
  add("token_embd.weight", "model.embed_tokens.weight", {V, H}, TensorRole::Embedding, -1);
  add("output_norm.weight", "model.norm.weight", {H}, TensorRole::Norm, -1);
  add("nextn.pre_projection.weight", "pre_projection.weight", {H, 2 * Hb}, TensorRole::Matrix, -1);
  add("nextn.post_projection.weight", "post_projection.weight", {Hb, H}, TensorRole::Matrix, -1);
  if (c.ordered_embeddings) {
    add("masked_embd_centroids.weight", "masked_embedding.centroids.weight", {c.n_centroids, H}, TensorRole::Matrix, -1);
    add("masked_embd_ordering", "masked_embedding.token_ordering", {V}, TensorRole::Embedding, -1);
  }
  for (int i = 0; i < c.n_layers; ++i) {
    const LayerConfig& l = c.layers[static_cast<size_t>(i)];
    const std::string g = "blk." + std::to_string(i) + ".";
    const std::string h = "model.layers." + std::to_string(i) + ".";
    const int64_t D = l.head_dim, q_rows = int64_t{c.n_heads} * D, I = l.ffn_width;
    add(g + "attn_norm.weight", h + "input_layernorm.weight", {H}, TensorRole::Norm, i);
    add(g + "attn_q.weight", h + "self_attn.q_proj.weight", {q_rows, H}, TensorRole::Matrix, i);
    add(g + "attn_q_norm.weight", h + "self_attn.q_norm.weight", {D}, TensorRole::Norm, i);
    add(g + "attn_output.weight", h + "self_attn.o_proj.weight", {H, q_rows}, TensorRole::Matrix, i);
    add(g + "post_attention_norm.weight", h + "post_attention_layernorm.weight", {H}, TensorRole::Norm, i);
    add(g + "ffn_norm.weight", h + "pre_feedforward_layernorm.weight", {H}, TensorRole::Norm, i);
    add(g + "ffn_gate.weight", h + "mlp.gate_proj.weight", {I, H}, TensorRole::Matrix, i);
    add(g + "ffn_up.weight", h + "mlp.up_proj.weight", {I, H}, TensorRole::Matrix, i);
    add(g + "ffn_down.weight", h + "mlp.down_proj.weight", {H, I}, TensorRole::Matrix, i);
    add(g + "post_ffw_norm.weight", h + "post_feedforward_layernorm.weight", {H}, TensorRole::Norm, i);
    add(g + "layer_output_scale.weight", h + "layer_scalar", {1}, TensorRole::LayerScalar, i);
  }
  return out;
}

std::unique_ptr<AssistantModel> load_assistant(const std::string& path) {
  namespace fs = std::filesystem;
  auto model = std::make_unique<AssistantModel>();
  model->path = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const std::string config_path = (fs::path(path) / "config.json").string();
    require(fs::exists(config_path), path, ": not a model folder (no config.json)");
    model->config = AssistantConfig::from_hf_json(read_json_object(config_path), config_path);
    auto source = std::make_unique<ManifestHfSource>(SafetensorsSet::open(path),
                                                     tensor_name_pairs(assistant_manifest(model->config)));
    if (model->config.ordered_embeddings) {
      const char* name = "masked_embedding.token_ordering";
      const SafetensorsTensor* t = source->set().find(name);
      require(t != nullptr, path, ": tensor ", name, " is missing");
      require((t->dtype_name == "I64" || t->dtype_name == "I32") && t->view.shape == std::vector<int64_t>{model->config.vocab_size},
              path, ": tensor ", name, " must be I64 or I32 [", model->config.vocab_size, "], found ", t->dtype_name, " ",
              shape_string(t->view.shape));
      model->weights.token_ordering = read_ordering(t->view.data, t->dtype_name == "I64", model->config.vocab_size);
    }
    model->source = std::move(source);
  } else {
    require(fs::exists(path, ec), path, ": no such file or folder");
    auto file = GgufFile::open(path);
    model->config = AssistantConfig::from_gguf(*file);
    if (model->config.ordered_embeddings) {
      const GgufTensor* t = file->tensor("masked_embd_ordering");
      require(t != nullptr, path, ": tensor masked_embd_ordering is missing (the file has centroids)");
      require((t->view.dtype == DType::I32 || t->view.dtype == DType::I64) &&
                  t->view.shape == std::vector<int64_t>{model->config.vocab_size},
              path, ": tensor masked_embd_ordering must be I32 or I64 [", model->config.vocab_size, "], found ",
              dtype_name(t->view.dtype), " ", shape_string(t->view.shape));
      model->weights.token_ordering =
          read_ordering(t->view.data, t->view.dtype == DType::I64, model->config.vocab_size);
    }
    model->source = std::make_unique<GgufWeightSource>(std::move(file));
  }
  if (model->config.name.empty()) model->config.name = fs::path(path).filename().string();
  std::vector<int32_t> ordering = std::move(model->weights.token_ordering);
  if (model->config.ordered_embeddings) check_ordering(ordering, model->config.vocab_size, path);
  model->weights = bind_assistant(model->config, *model->source, path);
  model->weights.token_ordering = std::move(ordering);
  return model;
}

bool is_assistant_model(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  try {
    if (fs::is_directory(path, ec)) {
      const json j = probe_folder_config(path);
      return j.is_object() && j.value("model_type", std::string()) == "gemma4_assistant";
    }
    if (!fs::is_regular_file(path, ec)) return false;
    return GgufFile::open(path)->get_string_or("general.architecture", "") == kGgufArch;
  } catch (const std::exception&) {
    return false;
  }
}

void check_assistant_fits(const AssistantModel& a, const ModelConfig& target) {
  const AssistantConfig& c = a.config;
  require(c.vocab_size == target.vocab_size, a.path, ": the drafter's vocabulary has ", c.vocab_size,
          " tokens but the main model's ", target.vocab_size, ": it was made for another model");
  require(c.backbone_hidden_size == target.hidden_size, a.path, ": the drafter expects a main model of width ",
          c.backbone_hidden_size, " but this one has ", target.hidden_size,
          ": it was made for another model (e.g. an E4B drafter with an E2B)");
  for (int i = 0; i < c.n_layers; ++i) {
    const LayerConfig& l = c.layers[static_cast<size_t>(i)];
    int source = -1;
    for (int j = 0; j < target.n_layers; ++j) {
      const LayerConfig& t = target.layers[static_cast<size_t>(j)];
      if (t.owns_kv && t.kind == l.kind) source = j;
    }
    require(source >= 0, a.path, ": drafter layer ", i, " reads a ", layer_kind_name(l.kind),
            " layer's KV, but the main model has none");
    const LayerConfig& t = target.layers[static_cast<size_t>(source)];
    require(t.head_dim == l.head_dim && c.n_heads % t.n_kv_heads == 0, a.path, ": drafter layer ", i,
            " (head size ", l.head_dim, ", ", c.n_heads, " heads) cannot read main-model layer ", source,
            " (head size ", t.head_dim, ", ", t.n_kv_heads, " KV heads): it was made for another model");
  }
}

AssistantGeneratorConfig load_assistant_generator_config(const std::string& path) {
  json j = read_json_object(path);
  if (!j.contains("model_type")) j["model_type"] = "gemma4_assistant";
  AssistantGeneratorConfig g;
  g.assistant = AssistantConfig::from_hf_json(j, path);
  g.assistant.name = j.value("name", std::filesystem::path(path).stem().string());
  read_generator_keys(j, path, g.options);
  return g;
}

}  // namespace facet
