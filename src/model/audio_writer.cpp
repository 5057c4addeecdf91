// Random audio towers for tests and benchmarks: every tensor of the manifest drawn from the
// seeded counter-based generator of random models (random_init.h), written as llama.cpp's
// mmproj GGUF or as the audio part of an HF folder, with the same values.
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/audio.h"
#include "model/random_init.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

// How each kind of tensor is drawn: matrices and kernels N(0, 1/fan_in); norms near 1 and
// norms feeding the residual stream near 0.1 (as the text model's recipe); the raw
// per_dim_scale around 0 (softplus ≈ 0.69, HF's initial value); clamp bounds where a few
// activations cross them, so the clamps are exercised.
InitRule audio_rule(const AudioTensorSpec& spec) {
  using R = AudioTensorRole;
  using K = InitRule::Kind;
  const std::vector<int64_t>& s = spec.hf_shape;
  switch (spec.role) {
    case R::Matrix: return {K::Normal, 0.0, 1.0 / std::sqrt(static_cast<double>(s.back()))};
    case R::ConvKernel: return {K::Normal, 0.0, 1.0 / std::sqrt(static_cast<double>(s[1] * s[2] * s[3]))};
    case R::DepthwiseKernel: return {K::Normal, 0.0, 1.0 / std::sqrt(static_cast<double>(s.back()))};
    case R::Norm: return {K::Normal, 1.0, 0.1};
    case R::ResidualNorm: return {K::Normal, 0.1, 0.01};
    case R::PerDimScale: return {K::Normal, 0.0, 0.5};
    case R::Bias: return {K::Normal, 0.0, 0.1};
    case R::ClampMin: return {K::Uniform, -3.0, -1.5};
    case R::ClampMax: return {K::Uniform, 1.5, 3.0};
  }
  return {};
}

// The tensor's values in HF element order (per_dim_scale raw), rounded to the weight dtype.
std::vector<float> values_of(const AudioTensorSpec& spec, const GeneratorOptions& options) {
  return random_tensor_values(audio_rule(spec), tensor_key(options.seed, spec.gguf_name), spec.hf_shape, options.dtype);
}

}  // namespace

GeneratedModel write_random_audio_mmproj(const AudioConfig& c, const GeneratorOptions& options, const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  c.validate("audio generator");
  GgufWriter w;
  auto u32 = [](int64_t v) { return GgufValue::of_u32(static_cast<uint32_t>(v)); };
  w.set("general.architecture", GgufValue::of_string("clip"));
  w.set("general.name", GgufValue::of_string("gemma4-audio-random"));
  w.set("clip.has_vision_encoder", GgufValue::of_bool(false));
  w.set("clip.has_audio_encoder", GgufValue::of_bool(true));
  w.set("clip.projector_type", GgufValue::of_string("gemma4a"));
  w.set("clip.audio.projector_type", GgufValue::of_string("gemma4a"));
  w.set("clip.audio.embedding_length", u32(c.hidden_size));
  w.set("clip.audio.feed_forward_length", u32(c.ffn_size));
  w.set("clip.audio.block_count", u32(c.n_layers));
  w.set("clip.audio.attention.head_count", u32(c.n_heads));
  w.set("clip.audio.num_mel_bins", u32(c.mel_bins));
  w.set("clip.audio.projection_dim", u32(c.text_hidden_size));
  // llama.cpp's converter writes 1e-5 here; its graph (and facet) use 1e-6 regardless.
  w.set("clip.audio.attention.layer_norm_epsilon", GgufValue::of_f32(1e-5f));
  const std::vector<AudioTensorSpec> manifest = audio_manifest(c);
  for (const AudioTensorSpec& spec : manifest) {
    // Matrices in the weight dtype unless the converter forces F32; vectors, kernels and
    // scalars in F32 (llama.cpp reads the clamp scalars as raw floats).
    const DType storage = spec.role == AudioTensorRole::Matrix && !spec.gguf_f32 ? options.dtype : DType::F32;
    w.add_tensor(spec.gguf_name, storage, spec.gguf_shape, [&spec, &options, storage](uint8_t* dst, size_t) {
      std::vector<float> v = values_of(spec, options);
      if (spec.role == AudioTensorRole::PerDimScale)  // the GGUF holds softplus(raw)
        for (float& s : v) s = static_cast<float>(std::log1p(std::exp(static_cast<double>(s))));
      row_from_f32(storage, v.data(), dst, static_cast<int64_t>(v.size()));
    });
  }
  w.write(path);
  return generated_model_report({path}, static_cast<int64_t>(manifest.size()), start);
}

GeneratedModel write_random_audio_hf(const AudioConfig& c, const GeneratorOptions& options, const std::string& dir) {
  const auto start = std::chrono::steady_clock::now();
  c.validate("audio generator");
  require(c.ffn_size == 4 * c.hidden_size, "audio generator: an HF audio tower's FFN is 4 x hidden_size (",
          4 * c.hidden_size, "), not ", c.ffn_size);
  create_output_folder(dir);
  json audio = {{"model_type", "gemma4_audio"},
                {"hidden_size", c.hidden_size},
                {"num_hidden_layers", c.n_layers},
                {"num_attention_heads", c.n_heads},
                {"hidden_act", "silu"},
                {"subsampling_conv_channels", {c.sscp_channels[0], c.sscp_channels[1]}},
                {"conv_kernel_size", c.conv_kernel},
                {"residual_weight", c.residual_weight},
                {"attention_chunk_size", c.chunk_size},
                {"attention_context_left", c.context_left},
                {"attention_context_right", c.context_right},
                {"attention_logit_cap", c.logit_cap},
                {"attention_invalid_logits_value", -1e9},
                {"use_clipped_linears", c.clipped_linears},
                {"rms_norm_eps", c.rms_eps},
                {"gradient_clipping", c.gradient_clipping},
                {"output_proj_dims", c.output_dims}};
  json config = {{"architectures", json::array({"Gemma4ForConditionalGeneration"})},
                 {"model_type", "gemma4"},
                 {"text_config", {{"hidden_size", c.text_hidden_size}}},
                 {"audio_config", audio},
                 {"audio_token_id", 258881},
                 {"boa_token_id", 256000},
                 {"eoa_token_index", 258883}};
  write_text_file(dir + "/config.json", config.dump(2) + "\n");
  const std::vector<AudioTensorSpec> manifest = audio_manifest(c);
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const AudioTensorSpec& spec : manifest)
    writer.add_tensor(spec.hf_name, options.dtype, spec.hf_shape, [&spec, &options](uint8_t* dst, size_t) {
      const std::vector<float> v = values_of(spec, options);
      row_from_f32(options.dtype, v.data(), dst, static_cast<int64_t>(v.size()));
    });
  std::vector<std::string> files = writer.write_sharded(dir, 5'000'000'000ull);
  files.push_back(dir + "/config.json");
  return generated_model_report(files, static_cast<int64_t>(manifest.size()), start);
}

}  // namespace facet
