// Gemma 4 vision tower: configuration, tensor names and loading (see vision.h).
#include "model/vision.h"

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/config_files.h"
#include "model/gguf_source.h"
#include "model/manifest_hf_source.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

constexpr const char* kProjectorType = "gemma4v";

// The HF name of a block Linear ("attn_q" -> "self_attn.q_proj").
std::string hf_linear(const std::string& gguf) {
  static const std::map<std::string, std::string> names = {
      {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
      {"attn_out", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"}};
  return names.at(gguf);
}

VisionWeights bind_vision(const VisionConfig& c, const WeightSource& source, const std::string& where) {
  const bool gguf = source.format() == "gguf";
  const TowerBinder bind(vision_manifest(c), source, where);

  VisionWeights w;
  const int64_t Hv = c.hidden_size, P = c.patch_size, table = c.position_table_size;
  const std::vector<float> patch = bind.vector("v.patch_embd.weight");
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
  const std::vector<float> positions = bind.vector("v.position_embd.weight");  // [2, table, Hv]
  w.position_x.assign(positions.begin(), positions.begin() + table * Hv);
  w.position_y.assign(positions.begin() + table * Hv, positions.end());
  if (c.standardize) {
    w.std_bias = bind.vector("v.std_bias");
    w.std_scale = bind.vector("v.std_scale");
  }
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    VisionLayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "v.blk." + std::to_string(i) + ".";
    l.ln1 = bind.vector(p + "ln1.weight");
    l.q_norm = bind.vector(p + "attn_q_norm.weight");
    l.k_norm = bind.vector(p + "attn_k_norm.weight");
    l.attn_post_norm = bind.vector(p + "attn_post_norm.weight");
    l.ln2 = bind.vector(p + "ln2.weight");
    l.ffn_post_norm = bind.vector(p + "ffn_post_norm.weight");
    l.q = bind.clamped_linear(p + "attn_q");
    l.k = bind.clamped_linear(p + "attn_k");
    l.v = bind.clamped_linear(p + "attn_v");
    l.out = bind.clamped_linear(p + "attn_out");
    l.gate = bind.clamped_linear(p + "ffn_gate");
    l.up = bind.clamped_linear(p + "ffn_up");
    l.down = bind.clamped_linear(p + "ffn_down");
  }
  w.projection = bind.matrix("mm.input_projection.weight");
  return w;
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
  auto get = [&](const char* key) { return config_dimension(f.get_int(key), path, key); };
  c.hidden_size = get("clip.vision.embedding_length");
  c.intermediate_size = get("clip.vision.feed_forward_length");
  c.n_layers = get("clip.vision.block_count");
  c.n_heads = get("clip.vision.attention.head_count");
  require(c.hidden_size % c.n_heads == 0, path, ": clip.vision.embedding_length ", c.hidden_size,
          " is not a multiple of the head count ", c.n_heads);
  c.head_dim = c.hidden_size / c.n_heads;
  c.patch_size = config_dimension(f.get_int_or("clip.vision.patch_size", 16), path, "clip.vision.patch_size");
  c.pooling_kernel = config_dimension(f.get_int_or("clip.vision.projector.scale_factor", 3), path,
                                  "clip.vision.projector.scale_factor");
  c.rms_eps = f.get_real_or("clip.vision.attention.layer_norm_epsilon", 1e-6);
  // Clamps and standardisation are seen in the tensors (llama.cpp writes no key for them).
  c.clipped_linears = f.tensor("v.blk.0.attn_q.input_max") != nullptr;
  c.standardize = f.tensor("v.std_bias") != nullptr;
  const GgufTensor* proj = f.tensor("mm.input_projection.weight");
  require(proj != nullptr && proj->view.rank() == 2, path, ": tensor mm.input_projection.weight is missing");
  c.text_hidden_size = config_dimension(proj->view.dim(0), path, "mm.input_projection.weight rows");
  const GgufTensor* table = f.tensor("v.position_embd.weight");
  require(table != nullptr && table->view.rank() == 3, path, ": tensor v.position_embd.weight is missing");
  c.position_table_size = config_dimension(table->view.dim(1), path, "v.position_embd.weight size");
  c.validate(path);
  return c;
}

VisionConfig VisionConfig::from_hf_json(const json& v, int text_hidden_size, const std::string& source) {
  require(v.is_object(), source, ": vision_config must be an object");
  VisionConfig c;
  auto get = [&](const char* key, int fallback) {
    if (!v.contains(key)) return fallback;
    require(v[key].is_number_integer(), source, ": vision_config.", key, " must be an integer");
    return config_dimension(v[key].get<int64_t>(), source, std::string("vision_config.") + key);
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
    const HfTowerConfig hf = read_hf_tower_config(path, "vision");
    if (is_encoder_free_vision_config(hf.tower)) {
      tower->encoder_free = load_encoder_free_vision(path, hf.tower, hf.text_hidden_size, hf.config_path);
      const EncoderFreeVisionConfig& e = tower->encoder_free->config;
      tower->config.patch_size = e.patch_size;
      tower->config.pooling_kernel = e.pooling_kernel;
      tower->config.default_soft_tokens = e.default_soft_tokens;
      tower->config.text_hidden_size = e.text_hidden_size;
      return tower;
    }
    tower->config = VisionConfig::from_hf_json(hf.tower, hf.text_hidden_size, hf.config_path);
    tower->source = std::make_unique<ManifestHfSource>(SafetensorsSet::open(path),
                                                       tensor_name_pairs(vision_manifest(tower->config)));
  } else {
    require(fs::exists(path, ec), path, ": no such file or folder");
    auto file = GgufFile::open(path);
    tower->config = VisionConfig::from_mmproj(*file);
    tower->source = std::make_unique<GgufWeightSource>(std::move(file));
  }
  tower->weights = bind_vision(tower->config, *tower->source, path);
  return tower;
}

bool has_vision_tower(const std::string& path) { return has_media_tower(path, "vision"); }

}  // namespace facet
