// Gemma 4 vision tower: configuration, tensor names and loading (see vision.h).
#include "model/vision.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/gguf_source.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

constexpr const char* kProjectorType = "gemma4v";

int positive_int(int64_t v, const std::string& source, const std::string& key) {
  require(v > 0 && v <= (1 << 24), source, ": ", key, " must be a positive integer below 2^24, found ", v);
  return static_cast<int>(v);
}

// The HF name of a block Linear ("attn_q" -> "self_attn.q_proj").
std::string hf_linear(const std::string& gguf) {
  static const std::map<std::string, std::string> names = {
      {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
      {"attn_out", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"}};
  return names.at(gguf);
}

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  row_to_f32(t.dtype, t.data, out.data(), t.numel());
  return out;
}

// HF folder: tensors looked up by their GGUF names through the manifest.
class HfVisionSource : public WeightSource {
 public:
  HfVisionSource(std::unique_ptr<SafetensorsSet> set, const VisionConfig& config) : set_(std::move(set)) {
    for (const VisionTensorSpec& spec : vision_manifest(config)) {
      hf_names_[spec.gguf_name] = spec.hf_name;
      const SafetensorsTensor* t = set_->find(spec.hf_name);
      if (t != nullptr && t->supported) views_[spec.gguf_name] = t->view;
    }
  }
  const TensorView* find(const std::string& name) const override {
    auto it = views_.find(name);
    return it == views_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const override { return set_->names(); }
  std::string format() const override { return "safetensors"; }
  uint64_t file_bytes() const override {
    uint64_t total = 0;
    for (const auto& f : set_->files()) total += f->file_size();
    return total;
  }
  std::string source_name(const std::string& name) const override {
    auto it = hf_names_.find(name);
    return it == hf_names_.end() ? name : it->second;
  }

 private:
  std::unique_ptr<SafetensorsSet> set_;
  std::map<std::string, TensorView> views_;
  std::map<std::string, std::string> hf_names_;
};

VisionWeights bind_vision(const VisionConfig& c, const WeightSource& source, const std::string& where) {
  const bool gguf = source.format() == "gguf";
  std::map<std::string, VisionTensorSpec> specs;
  for (VisionTensorSpec& s : vision_manifest(c)) specs.emplace(s.gguf_name, std::move(s));
  auto tensor = [&](const std::string& name) -> const TensorView& {
    const VisionTensorSpec& spec = specs.at(name);
    const TensorView* t = source.find(name);
    const std::string shown = source.source_name(name);
    require(t != nullptr, where, ": tensor ", shown, " is missing");
    const std::vector<int64_t>& shape = gguf ? spec.gguf_shape : spec.hf_shape;
    // A scalar may be stored as [] or [1].
    const bool scalar_ok = shape.size() <= 1 && t->numel() == 1 && (shape.empty() || shape[0] == 1);
    require(t->shape == shape || scalar_ok, where, ": tensor ", shown, " has shape ", shape_string(t->shape),
            ", expected ", shape_string(shape));
    require(dtype_info(t->dtype).computable, where, ": tensor ", shown, " has type ", dtype_name(t->dtype),
            ", which facet cannot compute with");
    return *t;
  };
  auto vector = [&](const std::string& name) { return to_f32(tensor(name)); };
  // A clamp bound: the stored scalar, or ±infinity when the file has none.
  auto bound = [&](const std::string& name, float fallback) {
    return specs.count(name) != 0 && source.find(name) != nullptr ? vector(name)[0] : fallback;
  };
  const float inf = std::numeric_limits<float>::infinity();
  auto linear = [&](const std::string& prefix) {
    ClampedLinear l;
    l.w = as_matrix(tensor(prefix + ".weight"));
    l.in_lo = bound(prefix + ".input_min", -inf);
    l.in_hi = bound(prefix + ".input_max", inf);
    l.out_lo = bound(prefix + ".output_min", -inf);
    l.out_hi = bound(prefix + ".output_max", inf);
    return l;
  };

  VisionWeights w;
  const int64_t Hv = c.hidden_size, P = c.patch_size, table = c.position_table_size;
  const std::vector<float> patch = vector("v.patch_embd.weight");
  if (gguf) {  // conv kernel [Hv, channel, row, column] -> [Hv, (row, column, channel)]
    w.patch_proj.resize(patch.size());
    for (int64_t o = 0; o < Hv; ++o)
      for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t py = 0; py < P; ++py)
          for (int64_t px = 0; px < P; ++px)
            w.patch_proj[static_cast<size_t>(o * 3 * P * P + (py * P + px) * 3 + ch)] =
                patch[static_cast<size_t>(o * 3 * P * P + ch * P * P + py * P + px)];
  } else {
    w.patch_proj = patch;
  }
  const std::vector<float> positions = vector("v.position_embd.weight");  // [2, table, Hv]
  w.position_x.assign(positions.begin(), positions.begin() + table * Hv);
  w.position_y.assign(positions.begin() + table * Hv, positions.end());
  if (c.standardize) {
    w.std_bias = vector("v.std_bias");
    w.std_scale = vector("v.std_scale");
  }
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    VisionLayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "v.blk." + std::to_string(i) + ".";
    l.ln1 = vector(p + "ln1.weight");
    l.q_norm = vector(p + "attn_q_norm.weight");
    l.k_norm = vector(p + "attn_k_norm.weight");
    l.attn_post_norm = vector(p + "attn_post_norm.weight");
    l.ln2 = vector(p + "ln2.weight");
    l.ffn_post_norm = vector(p + "ffn_post_norm.weight");
    l.q = linear(p + "attn_q");
    l.k = linear(p + "attn_k");
    l.v = linear(p + "attn_v");
    l.out = linear(p + "attn_out");
    l.gate = linear(p + "ffn_gate");
    l.up = linear(p + "ffn_up");
    l.down = linear(p + "ffn_down");
  }
  w.projection = as_matrix(tensor("mm.input_projection.weight"));
  return w;
}

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), path, ": cannot open");
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  require(!j.is_discarded() && j.is_object(), path, ": not a JSON object");
  return j;
}

}  // namespace

void VisionConfig::validate(const std::string& source) const {
  require(hidden_size > 0 && n_heads > 0 && head_dim > 0 && hidden_size == n_heads * head_dim, source,
          ": vision hidden size ", hidden_size, " must be heads (", n_heads, ") x head size (", head_dim, ")");
  require(head_dim % 4 == 0, source, ": vision head size ", head_dim, " must be a multiple of 4 (2-D RoPE halves)");
  require(n_layers > 0 && intermediate_size > 0 && text_hidden_size > 0, source,
          ": vision layers, MLP width and projection width must be positive");
  require(patch_size > 0 && patch_size <= 64 && pooling_kernel > 0 && pooling_kernel <= 8, source,
          ": vision patch size ", patch_size, " / pooling kernel ", pooling_kernel, " out of range");
  require(position_table_size > 0, source, ": vision position table must not be empty");
  require(rms_eps > 0 && rope_theta > 0, source, ": vision eps and RoPE theta must be positive");
}

VisionPreprocessConfig VisionConfig::preprocess(int max_soft_tokens) const {
  VisionPreprocessConfig p;
  p.patch_size = patch_size;
  p.pooling_kernel = pooling_kernel;
  p.max_soft_tokens = max_soft_tokens > 0 ? max_soft_tokens : default_soft_tokens;
  return p;
}

VisionConfig VisionConfig::from_mmproj(const GgufFile& f) {
  const std::string& path = f.path();
  require(f.get_string_or("general.architecture", "") == "clip", path,
          ": not a multimodal projector (general.architecture is not \"clip\")");
  const std::string type = f.get_string_or("clip.vision.projector_type", f.get_string_or("clip.projector_type", ""));
  require(f.get_bool_or("clip.has_vision_encoder", false) && type == kProjectorType, path,
          ": not a Gemma 4 vision projector (projector type \"", type, "\", expected \"", kProjectorType, "\")");
  VisionConfig c;
  auto get = [&](const char* key) { return positive_int(f.get_int(key), path, key); };
  c.hidden_size = get("clip.vision.embedding_length");
  c.intermediate_size = get("clip.vision.feed_forward_length");
  c.n_layers = get("clip.vision.block_count");
  c.n_heads = get("clip.vision.attention.head_count");
  require(c.hidden_size % c.n_heads == 0, path, ": clip.vision.embedding_length ", c.hidden_size,
          " is not a multiple of the head count ", c.n_heads);
  c.head_dim = c.hidden_size / c.n_heads;
  c.patch_size = positive_int(f.get_int_or("clip.vision.patch_size", 16), path, "clip.vision.patch_size");
  c.pooling_kernel = positive_int(f.get_int_or("clip.vision.projector.scale_factor", 3), path,
                                  "clip.vision.projector.scale_factor");
  c.rms_eps = f.get_real_or("clip.vision.attention.layer_norm_epsilon", 1e-6);
  // Clamps and standardisation are seen in the tensors (llama.cpp writes no key for them).
  c.clipped_linears = f.tensor("v.blk.0.attn_q.input_max") != nullptr;
  c.standardize = f.tensor("v.std_bias") != nullptr;
  const GgufTensor* proj = f.tensor("mm.input_projection.weight");
  require(proj != nullptr && proj->view.rank() == 2, path, ": tensor mm.input_projection.weight is missing");
  c.text_hidden_size = positive_int(proj->view.dim(0), path, "mm.input_projection.weight rows");
  const GgufTensor* table = f.tensor("v.position_embd.weight");
  require(table != nullptr && table->view.rank() == 3, path, ": tensor v.position_embd.weight is missing");
  c.position_table_size = positive_int(table->view.dim(1), path, "v.position_embd.weight size");
  c.validate(path);
  return c;
}

VisionConfig VisionConfig::from_hf_json(const json& v, int text_hidden_size, const std::string& source) {
  require(v.is_object(), source, ": vision_config must be an object");
  VisionConfig c;
  auto get = [&](const char* key, int fallback) {
    if (!v.contains(key)) return fallback;
    require(v[key].is_number_integer(), source, ": vision_config.", key, " must be an integer");
    return positive_int(v[key].get<int64_t>(), source, std::string("vision_config.") + key);
  };
  c.hidden_size = get("hidden_size", c.hidden_size);
  c.intermediate_size = get("intermediate_size", c.intermediate_size);
  c.n_layers = get("num_hidden_layers", c.n_layers);
  c.n_heads = get("num_attention_heads", c.n_heads);
  c.head_dim = get("head_dim", c.hidden_size / c.n_heads);
  c.patch_size = get("patch_size", c.patch_size);
  c.pooling_kernel = get("pooling_kernel_size", c.pooling_kernel);
  c.position_table_size = get("position_embedding_size", c.position_table_size);
  c.default_soft_tokens = get("default_output_length", c.default_soft_tokens);
  if (v.contains("rms_norm_eps")) {
    require(v["rms_norm_eps"].is_number(), source, ": vision_config.rms_norm_eps must be a number");
    c.rms_eps = v["rms_norm_eps"].get<double>();
  }
  if (v.contains("rope_parameters") && v["rope_parameters"].is_object() && v["rope_parameters"].contains("rope_theta")) {
    require(v["rope_parameters"]["rope_theta"].is_number(), source, ": vision rope_theta must be a number");
    c.rope_theta = v["rope_parameters"]["rope_theta"].get<double>();
  }
  c.clipped_linears = v.value("use_clipped_linears", false);
  c.standardize = v.value("standardize", false);
  c.text_hidden_size = text_hidden_size;
  c.validate(source);
  return c;
}

std::vector<VisionTensorSpec> vision_manifest(const VisionConfig& c) {
  using R = VisionTensorRole;
  std::vector<VisionTensorSpec> out;
  const int64_t Hv = c.hidden_size, I = c.intermediate_size, P = c.patch_size, D = c.head_dim;
  auto add = [&](std::string gguf, std::string hf, std::vector<int64_t> gguf_shape, std::vector<int64_t> hf_shape, R role) {
    out.push_back({std::move(gguf), std::move(hf), std::move(gguf_shape), std::move(hf_shape), role});
  };
  const std::string t = "model.vision_tower.";
  add("v.patch_embd.weight", t + "patch_embedder.input_proj.weight", {Hv, 3, P, P}, {Hv, 3 * P * P}, R::PatchMatrix);
  add("v.position_embd.weight", t + "patch_embedder.position_embedding_table", {2, c.position_table_size, Hv},
      {2, c.position_table_size, Hv}, R::PositionTable);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string g = "v.blk." + std::to_string(i) + ".";
    const std::string h = t + "encoder.layers." + std::to_string(i) + ".";
    add(g + "ln1.weight", h + "input_layernorm.weight", {Hv}, {Hv}, R::Norm);
    add(g + "attn_q_norm.weight", h + "self_attn.q_norm.weight", {D}, {D}, R::QkNorm);
    add(g + "attn_k_norm.weight", h + "self_attn.k_norm.weight", {D}, {D}, R::QkNorm);
    add(g + "attn_post_norm.weight", h + "post_attention_layernorm.weight", {Hv}, {Hv}, R::ResidualNorm);
    add(g + "ln2.weight", h + "pre_feedforward_layernorm.weight", {Hv}, {Hv}, R::Norm);
    add(g + "ffn_post_norm.weight", h + "post_feedforward_layernorm.weight", {Hv}, {Hv}, R::ResidualNorm);
    for (const char* linear : kVisionLinears) {
      const std::string name = linear;
      const bool ffn = name.starts_with("ffn");
      const int64_t rows = name == "ffn_down" ? Hv : ffn ? I : Hv, cols = name == "ffn_down" ? I : Hv;
      const std::string hl = h + hf_linear(name);
      add(g + name + ".weight", hl + ".linear.weight", {rows, cols}, {rows, cols}, R::Matrix);
      if (!c.clipped_linears) continue;
      add(g + name + ".input_min", hl + ".input_min", {1}, {}, R::ClampMin);
      add(g + name + ".input_max", hl + ".input_max", {1}, {}, R::ClampMax);
      add(g + name + ".output_min", hl + ".output_min", {1}, {}, R::ClampMin);
      add(g + name + ".output_max", hl + ".output_max", {1}, {}, R::ClampMax);
    }
  }
  if (c.standardize) {
    add("v.std_bias", t + "std_bias", {Hv}, {Hv}, R::StdBias);
    add("v.std_scale", t + "std_scale", {Hv}, {Hv}, R::StdScale);
  }
  add("mm.input_projection.weight", "model.embed_vision.embedding_projection.weight", {c.text_hidden_size, Hv},
      {c.text_hidden_size, Hv}, R::Matrix);
  return out;
}

std::unique_ptr<VisionTower> load_vision_tower(const std::string& path) {
  namespace fs = std::filesystem;
  auto tower = std::make_unique<VisionTower>();
  tower->path = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const std::string config_path = (fs::path(path) / "config.json").string();
    require(fs::exists(config_path, ec), path, ": not a model folder (no config.json)");
    const json j = read_json_file(config_path);
    require(j.contains("vision_config") && j["vision_config"].is_object(), config_path,
            ": the model has no vision tower (no vision_config)");
    require(j.contains("text_config") && j["text_config"].is_object() && j["text_config"].contains("hidden_size") &&
                j["text_config"]["hidden_size"].is_number_integer(),
            config_path, ": text_config.hidden_size is missing");
    const int text_hidden = positive_int(j["text_config"]["hidden_size"].get<int64_t>(), config_path, "text_config.hidden_size");
    tower->config = VisionConfig::from_hf_json(j["vision_config"], text_hidden, config_path);
    tower->source = std::make_unique<HfVisionSource>(SafetensorsSet::open(path), tower->config);
  } else {
    require(fs::exists(path, ec), path, ": no such file or folder");
    auto file = GgufFile::open(path);
    tower->config = VisionConfig::from_mmproj(*file);
    tower->source = std::make_unique<GgufWeightSource>(std::move(file));
  }
  tower->weights = bind_vision(tower->config, *tower->source, path);
  return tower;
}

bool has_vision_tower(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  try {
    if (fs::is_directory(path, ec)) {
      const std::string config_path = (fs::path(path) / "config.json").string();
      if (!fs::exists(config_path, ec)) return false;
      std::ifstream in(config_path);
      const json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
      return j.is_object() && j.contains("vision_config") && j["vision_config"].is_object();
    }
    if (!fs::is_regular_file(path, ec)) return false;
    auto f = GgufFile::open(path);
    return f->get_string_or("general.architecture", "") == "clip" && f->get_bool_or("clip.has_vision_encoder", false);
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace facet
