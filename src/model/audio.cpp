// Gemma 4 audio tower: configuration, tensor names and loading (see audio.h).
#include "model/audio.h"

#include <cmath>
#include <filesystem>
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

constexpr const char* kProjectorType = "gemma4a";

AudioWeights bind_audio(const AudioConfig& c, const WeightSource& source, const std::string& where) {
  const bool gguf = source.format() == "gguf";
  const TowerBinder bind(audio_manifest(c), source, where);

  AudioWeights w;
  w.conv0 = bind.vector("a.conv1d.0.weight");
  w.conv0_norm = bind.vector("a.conv1d.0.norm.weight");
  w.conv1 = bind.vector("a.conv1d.1.weight");
  w.conv1_norm = bind.vector("a.conv1d.1.norm.weight");
  w.input_proj = bind.matrix("a.input_projection.weight");
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    AudioLayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "a.blk." + std::to_string(i) + ".";
    // llama.cpp's converter maps a per_dim_key_scale, which no Gemma 4 checkpoint holds and
    // whose use facet cannot confirm: refuse it rather than ignore it.
    require(source.find(p + "per_dim_k_scale.weight") == nullptr, where, ": tensor ", p,
            "per_dim_k_scale.weight is not part of Gemma 4's audio tower (facet does not support it)");
    l.ffn1_pre = bind.vector(p + "ffn_norm.weight");
    l.ffn1_up = bind.clamped_linear(p + "ffn_up");
    l.ffn1_down = bind.clamped_linear(p + "ffn_down");
    l.ffn1_post = bind.vector(p + "ffn_post_norm.weight");
    l.attn_pre = bind.vector(p + "attn_pre_norm.weight");
    l.q = bind.clamped_linear(p + "attn_q");
    l.k = bind.clamped_linear(p + "attn_k");
    l.v = bind.clamped_linear(p + "attn_v");
    l.attn_out = bind.clamped_linear(p + "attn_out");
    l.relative_k = bind.matrix(p + "attn_k_rel.weight");
    l.per_dim_scale = bind.vector(p + "per_dim_scale.weight");
    if (!gguf)  // HF keeps the raw parameter; the model uses softplus of it (GGUF stores that)
      for (float& s : l.per_dim_scale) s = static_cast<float>(std::log1p(std::exp(static_cast<double>(s))));
    l.attn_post = bind.vector(p + "attn_post_norm.weight");
    l.conv_pre = bind.vector(p + "conv_norm.weight");  // GGUF "conv_norm" is the norm before linear_start
    l.conv_start = bind.clamped_linear(p + "conv_pw1");
    l.depthwise = bind.vector(p + "conv_dw.weight");
    l.conv_norm = bind.vector(p + "norm_conv.weight");  // and "norm_conv" the one after the depthwise conv
    l.conv_end = bind.clamped_linear(p + "conv_pw2");
    l.ffn2_pre = bind.vector(p + "ffn_norm_1.weight");
    l.ffn2_up = bind.clamped_linear(p + "ffn_up_1");
    l.ffn2_down = bind.clamped_linear(p + "ffn_down_1");
    l.ffn2_post = bind.vector(p + "ffn_post_norm_1.weight");
    l.out_norm = bind.vector(p + "ln2.weight");
  }
  w.output_proj = bind.matrix("a.pre_encode.out.weight");
  w.output_bias = bind.vector("a.pre_encode.out.bias");
  w.projection = bind.matrix("mm.a.input_projection.weight");
  return w;
}

// A dimension of a GGUF tensor (row-major index), with a clear error when it is missing.
int gguf_dim(const GgufFile& f, const std::string& name, int64_t rank, int64_t axis) {
  const GgufTensor* t = f.tensor(name);
  require(t != nullptr && t->view.rank() == rank, f.path(), ": tensor ", name, " is missing or not ", rank, "-D");
  return config_dimension(t->view.dim(axis), f.path(), name + " size");
}

}  // namespace

void AudioConfig::validate(const std::string& source) const {
  require(hidden_size > 0 && n_heads > 0 && head_dim > 0 && hidden_size == n_heads * head_dim, source,
          ": audio hidden size ", hidden_size, " must be heads (", n_heads, ") x head size (", head_dim, ")");
  require(hidden_size % 2 == 0, source, ": audio hidden size ", hidden_size,
          " must be even (the position table is half sines, half cosines)");
  require(n_layers > 0 && ffn_size > 0 && output_dims > 0 && text_hidden_size > 0, source,
          ": audio layers, FFN width, output width and projection width must be positive");
  require(sscp_channels[0] > 0 && sscp_channels[1] > 0 && mel_bins > 0, source,
          ": audio subsampling channels and mel bins must be positive");
  require(conv_kernel > 0 && conv_kernel <= 64, source, ": audio conv kernel ", conv_kernel, " out of range 1..64");
  require(context_left >= 2 && context_left <= 4096 && chunk_size > 0, source, ": audio attention context left ",
          context_left, " must be at least 2 and chunk size ", chunk_size, " positive");
  require(context_right == 0, source, ": audio attention context right ", context_right,
          " is not supported (Gemma 4 uses 0)");
  require(logit_cap > 0 && residual_weight > 0 && rms_eps > 0 && gradient_clipping > 0, source,
          ": audio logit cap, residual weight, eps and gradient clipping must be positive");
}

AudioConfig AudioConfig::from_mmproj(const GgufFile& f) {
  const std::string& path = f.path();
  require(f.get_string_or("general.architecture", "") == "clip", path,
          ": not a multimodal projector (general.architecture is not \"clip\")");
  require(f.get_bool_or("clip.has_audio_encoder", false), path,
          ": the projector has no audio encoder (clip.has_audio_encoder is not true)");
  const std::string type = f.get_string_or("clip.audio.projector_type", f.get_string_or("clip.projector_type", ""));
  require(type == kProjectorType, path, ": not a Gemma 4 audio projector (projector type \"", type, "\", expected \"",
          kProjectorType, "\")");
  AudioConfig c;
  auto get = [&](const char* key) { return config_dimension(f.get_int(key), path, key); };
  c.hidden_size = get("clip.audio.embedding_length");
  c.ffn_size = get("clip.audio.feed_forward_length");
  c.n_layers = get("clip.audio.block_count");
  c.n_heads = get("clip.audio.attention.head_count");
  require(c.hidden_size % c.n_heads == 0, path, ": clip.audio.embedding_length ", c.hidden_size,
          " is not a multiple of the head count ", c.n_heads);
  c.head_dim = c.hidden_size / c.n_heads;
  c.mel_bins = config_dimension(f.get_int_or("clip.audio.num_mel_bins", 128), path, "clip.audio.num_mel_bins");
  // clip.audio.attention.layer_norm_epsilon is written (1e-5) but llama.cpp's graph uses
  // 1e-6, HF's rms_norm_eps: the default stays. The attention constants (chunk 12, context
  // 13, cap 50) have no keys either. Shapes the keys do not give come from the tensors.
  c.sscp_channels = {gguf_dim(f, "a.conv1d.0.weight", 4, 0), gguf_dim(f, "a.conv1d.1.weight", 4, 0)};
  c.conv_kernel = gguf_dim(f, "a.blk.0.conv_dw.weight", 2, 1);
  c.output_dims = gguf_dim(f, "a.pre_encode.out.weight", 2, 0);
  c.text_hidden_size = gguf_dim(f, "mm.a.input_projection.weight", 2, 0);
  c.clipped_linears = f.tensor("a.blk.0.attn_q.input_max") != nullptr;
  c.validate(path);
  return c;
}

AudioConfig AudioConfig::from_hf_json(const json& a, int text_hidden_size, const std::string& source) {
  require(a.is_object(), source, ": audio_config must be an object");
  AudioConfig c;
  auto get = [&](const char* key, int fallback) {
    if (!a.contains(key)) return fallback;
    require(a[key].is_number_integer(), source, ": audio_config.", key, " must be an integer");
    return config_dimension(a[key].get<int64_t>(), source, std::string("audio_config.") + key);
  };
  auto real = [&](const char* key, double fallback) {
    if (!a.contains(key)) return fallback;
    require(a[key].is_number(), source, ": audio_config.", key, " must be a number");
    return a[key].get<double>();
  };
  c.hidden_size = get("hidden_size", c.hidden_size);
  c.n_layers = get("num_hidden_layers", c.n_layers);
  c.n_heads = get("num_attention_heads", c.n_heads);
  require(c.hidden_size % c.n_heads == 0, source, ": audio_config.hidden_size ", c.hidden_size,
          " is not a multiple of num_attention_heads ", c.n_heads);
  c.head_dim = c.hidden_size / c.n_heads;
  c.ffn_size = 4 * c.hidden_size;  // not a config key: HF's FFN is hidden_size x 4
  if (a.contains("subsampling_conv_channels")) {
    const json& ch = a["subsampling_conv_channels"];
    require(ch.is_array() && ch.size() == 2 && ch[0].is_number_integer() && ch[1].is_number_integer(), source,
            ": audio_config.subsampling_conv_channels must be two integers");
    c.sscp_channels = {config_dimension(ch[0].get<int64_t>(), source, "audio_config.subsampling_conv_channels[0]"),
                       config_dimension(ch[1].get<int64_t>(), source, "audio_config.subsampling_conv_channels[1]")};
  }
  c.mel_bins = get("input_feat_size", c.mel_bins);
  c.conv_kernel = get("conv_kernel_size", c.conv_kernel);
  c.chunk_size = get("attention_chunk_size", c.chunk_size);
  c.context_left = get("attention_context_left", c.context_left);
  if (a.contains("attention_context_right")) {
    require(a["attention_context_right"].is_number_integer(), source,
            ": audio_config.attention_context_right must be an integer");
    c.context_right = a["attention_context_right"].get<int>();
  }
  c.logit_cap = real("attention_logit_cap", c.logit_cap);
  c.residual_weight = real("residual_weight", c.residual_weight);
  c.rms_eps = real("rms_norm_eps", c.rms_eps);
  c.gradient_clipping = real("gradient_clipping", c.gradient_clipping);
  c.output_dims = get("output_proj_dims", c.output_dims);
  if (a.contains("hidden_act"))
    require(a["hidden_act"] == "silu", source, ": audio_config.hidden_act ", a["hidden_act"].dump(),
            " is not supported (Gemma 4 uses \"silu\")");
  c.clipped_linears = a.value("use_clipped_linears", true);
  c.text_hidden_size = text_hidden_size;
  c.validate(source);
  return c;
}

std::vector<AudioTensorSpec> audio_manifest(const AudioConfig& c) {
  using R = AudioTensorRole;
  std::vector<AudioTensorSpec> out;
  const int64_t H = c.hidden_size, F = c.ffn_size, D = c.head_dim, C0 = c.sscp_channels[0], C1 = c.sscp_channels[1];
  auto add = [&](std::string gguf, std::string hf, std::vector<int64_t> gguf_shape, std::vector<int64_t> hf_shape, R role,
                 bool gguf_f32 = false) {
    out.push_back({std::move(gguf), std::move(hf), std::move(gguf_shape), std::move(hf_shape), role, gguf_f32});
  };
  // A ClippableLinear: ".linear.weight" in HF (plain ".weight" in GGUF) and four clamp scalars.
  auto clipped = [&](const std::string& g, const std::string& h, int64_t rows, int64_t cols) {
    add(g + ".weight", h + ".linear.weight", {rows, cols}, {rows, cols}, R::Matrix);
    if (!c.clipped_linears) return;
    add(g + ".input_min", h + ".input_min", {1}, {}, R::ClampMin);
    add(g + ".input_max", h + ".input_max", {1}, {}, R::ClampMax);
    add(g + ".output_min", h + ".output_min", {1}, {}, R::ClampMin);
    add(g + ".output_max", h + ".output_max", {1}, {}, R::ClampMax);
  };
  const std::string t = "model.audio_tower.";
  const std::string s = t + "subsample_conv_projection.";
  // llama.cpp's converter keeps convolution weights (and input_proj_linear, whose name has
  // "_conv") in F32.
  add("a.conv1d.0.weight", s + "layer0.conv.weight", {C0, 1, 3, 3}, {C0, 1, 3, 3}, R::ConvKernel, true);
  add("a.conv1d.0.norm.weight", s + "layer0.norm.weight", {C0}, {C0}, R::Norm);
  add("a.conv1d.1.weight", s + "layer1.conv.weight", {C1, C0, 3, 3}, {C1, C0, 3, 3}, R::ConvKernel, true);
  add("a.conv1d.1.norm.weight", s + "layer1.norm.weight", {C1}, {C1}, R::Norm);
  add("a.input_projection.weight", s + "input_proj_linear.weight", {H, c.flattened_width()}, {H, c.flattened_width()},
      R::Matrix, true);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string g = "a.blk." + std::to_string(i) + ".";
    const std::string h = t + "layers." + std::to_string(i) + ".";
    add(g + "ffn_norm.weight", h + "feed_forward1.pre_layer_norm.weight", {H}, {H}, R::Norm);
    clipped(g + "ffn_up", h + "feed_forward1.ffw_layer_1", F, H);
    clipped(g + "ffn_down", h + "feed_forward1.ffw_layer_2", H, F);
    add(g + "ffn_post_norm.weight", h + "feed_forward1.post_layer_norm.weight", {H}, {H}, R::ResidualNorm);
    add(g + "attn_pre_norm.weight", h + "norm_pre_attn.weight", {H}, {H}, R::Norm);
    clipped(g + "attn_q", h + "self_attn.q_proj", H, H);
    clipped(g + "attn_k", h + "self_attn.k_proj", H, H);
    clipped(g + "attn_v", h + "self_attn.v_proj", H, H);
    clipped(g + "attn_out", h + "self_attn.post", H, H);
    add(g + "attn_k_rel.weight", h + "self_attn.relative_k_proj.weight", {H, H}, {H, H}, R::Matrix);
    add(g + "per_dim_scale.weight", h + "self_attn.per_dim_scale", {D}, {D}, R::PerDimScale);
    add(g + "attn_post_norm.weight", h + "norm_post_attn.weight", {H}, {H}, R::ResidualNorm);
    // The GGUF names of the two light-conv norms are swapped against their roles.
    add(g + "conv_norm.weight", h + "lconv1d.pre_layer_norm.weight", {H}, {H}, R::Norm);
    clipped(g + "conv_pw1", h + "lconv1d.linear_start", 2 * H, H);
    add(g + "conv_dw.weight", h + "lconv1d.depthwise_conv1d.weight", {H, c.conv_kernel}, {H, 1, c.conv_kernel},
        R::DepthwiseKernel, true);
    add(g + "norm_conv.weight", h + "lconv1d.conv_norm.weight", {H}, {H}, R::Norm);
    clipped(g + "conv_pw2", h + "lconv1d.linear_end", H, H);
    add(g + "ffn_norm_1.weight", h + "feed_forward2.pre_layer_norm.weight", {H}, {H}, R::Norm);
    clipped(g + "ffn_up_1", h + "feed_forward2.ffw_layer_1", F, H);
    clipped(g + "ffn_down_1", h + "feed_forward2.ffw_layer_2", H, F);
    add(g + "ffn_post_norm_1.weight", h + "feed_forward2.post_layer_norm.weight", {H}, {H}, R::ResidualNorm);
    add(g + "ln2.weight", h + "norm_out.weight", {H}, {H}, R::Norm);
  }
  add("a.pre_encode.out.weight", t + "output_proj.weight", {c.output_dims, H}, {c.output_dims, H}, R::Matrix);
  add("a.pre_encode.out.bias", t + "output_proj.bias", {c.output_dims}, {c.output_dims}, R::Bias);
  add("mm.a.input_projection.weight", "model.embed_audio.embedding_projection.weight",
      {c.text_hidden_size, c.output_dims}, {c.text_hidden_size, c.output_dims}, R::Matrix);
  return out;
}

std::unique_ptr<AudioTower> load_audio_tower(const std::string& path) {
  namespace fs = std::filesystem;
  auto tower = std::make_unique<AudioTower>();
  tower->path = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const HfTowerConfig hf = read_hf_tower_config(path, "audio");
    if (is_encoder_free_audio_config(hf.tower)) {
      tower->encoder_free = load_encoder_free_audio(path, hf.tower, hf.text_hidden_size, hf.config_path);
      tower->config.text_hidden_size = tower->encoder_free->config.text_hidden_size;
      return tower;
    }
    tower->config = AudioConfig::from_hf_json(hf.tower, hf.text_hidden_size, hf.config_path);
    tower->source = std::make_unique<ManifestHfSource>(SafetensorsSet::open(path),
                                                       tensor_name_pairs(audio_manifest(tower->config)));
  } else {
    require(fs::exists(path, ec), path, ": no such file or folder");
    auto file = GgufFile::open(path);
    tower->config = AudioConfig::from_mmproj(*file);
    tower->source = std::make_unique<GgufWeightSource>(std::move(file));
  }
  tower->weights = bind_audio(tower->config, *tower->source, path);
  return tower;
}

bool has_audio_tower(const std::string& path) { return has_media_tower(path, "audio"); }

}  // namespace facet
