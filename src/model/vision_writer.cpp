// Random vision towers for tests and benchmarks: every tensor of the manifest drawn from
// the seeded counter-based generator of random models (random_init.h), written as
// llama.cpp's mmproj GGUF or as the vision part of an HF folder, with the same values.
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/random_init.h"
#include "model/vision.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

// How each kind of tensor is drawn. Clamp bounds sit where a few activations cross them,
// so the clamps are exercised; norms near 1, residual-branch norms near 0.1 (as the text
// model's recipe, keeping a deep random stack tame).
InitRule vision_rule(const VisionTensorSpec& spec, const VisionConfig& c) {
  using R = VisionTensorRole;
  using K = InitRule::Kind;
  switch (spec.role) {
    case R::Matrix: return {K::Normal, 0.0, 1.0 / std::sqrt(static_cast<double>(spec.hf_shape.back()))};
    case R::PatchMatrix: return {K::Normal, 0.0, 1.0 / std::sqrt(static_cast<double>(c.patch_values()))};
    case R::PositionTable: return {K::Normal, 0.0, 0.5};
    case R::Norm: return {K::Normal, 1.0, 0.1};
    case R::QkNorm: return {K::Normal, std::pow(static_cast<double>(c.head_dim), -0.25), 0.03};
    case R::ResidualNorm: return {K::Normal, 0.1, 0.01};
    case R::ClampMin: return {K::Uniform, -3.0, -1.5};
    case R::ClampMax: return {K::Uniform, 1.5, 3.0};
    case R::StdBias: return {K::Normal, 0.0, 0.5};
    case R::StdScale: return {K::Normal, 1.0, 0.1};
  }
  return {};
}

// The tensor's values in HF element order, rounded to the weight dtype.
std::vector<float> values_of(const VisionTensorSpec& spec, const VisionConfig& c, const GeneratorOptions& options) {
  return random_tensor_values(vision_rule(spec, c), tensor_key(options.seed, spec.gguf_name), spec.hf_shape, options.dtype);
}

// HF's patch Linear [Hv, (row, column, channel)] as llama.cpp's conv kernel [Hv, channel, row, column].
std::vector<float> patch_to_conv(const std::vector<float>& hf, const VisionConfig& c) {
  const int64_t Hv = c.hidden_size, P = c.patch_size;
  std::vector<float> out(hf.size());
  for (int64_t o = 0; o < Hv; ++o)
    for (int64_t py = 0; py < P; ++py)
      for (int64_t px = 0; px < P; ++px)
        for (int64_t ch = 0; ch < 3; ++ch)
          out[static_cast<size_t>(o * 3 * P * P + ch * P * P + py * P + px)] =
              hf[static_cast<size_t>(o * 3 * P * P + (py * P + px) * 3 + ch)];
  return out;
}

}  // namespace

GeneratedModel write_random_mmproj(const VisionConfig& c, const GeneratorOptions& options, const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  c.validate("vision generator");
  GgufWriter w;
  auto u32 = [](int64_t v) { return GgufValue::of_u32(static_cast<uint32_t>(v)); };
  w.set("general.architecture", GgufValue::of_string("clip"));
  w.set("general.name", GgufValue::of_string("gemma4-vision-random"));
  w.set("clip.has_vision_encoder", GgufValue::of_bool(true));
  w.set("clip.has_audio_encoder", GgufValue::of_bool(false));
  w.set("clip.projector_type", GgufValue::of_string("gemma4v"));
  w.set("clip.vision.projector_type", GgufValue::of_string("gemma4v"));
  w.set("clip.vision.image_size", u32(224));  // unused; llama.cpp's converter writes it too
  w.set("clip.vision.patch_size", u32(c.patch_size));
  w.set("clip.vision.embedding_length", u32(c.hidden_size));
  w.set("clip.vision.feed_forward_length", u32(c.intermediate_size));
  w.set("clip.vision.block_count", u32(c.n_layers));
  w.set("clip.vision.attention.head_count", u32(c.n_heads));
  w.set("clip.vision.attention.layer_norm_epsilon", GgufValue::of_f32(static_cast<float>(c.rms_eps)));
  w.set("clip.vision.projection_dim", u32(c.text_hidden_size));
  w.set("clip.vision.image_mean", GgufValue::of_array(std::vector<double>{0.0, 0.0, 0.0}));
  w.set("clip.vision.image_std", GgufValue::of_array(std::vector<double>{1.0, 1.0, 1.0}));
  const std::vector<VisionTensorSpec> manifest = vision_manifest(c);
  for (const VisionTensorSpec& spec : manifest) {
    // Matrices in the weight dtype; vectors, scalars and the position table in F32 (as
    // llama.cpp's converter, whose loader reads the clamp scalars as raw floats).
    const bool matrix = spec.role == VisionTensorRole::Matrix || spec.role == VisionTensorRole::PatchMatrix;
    const DType storage = matrix ? options.dtype : DType::F32;
    w.add_tensor(spec.gguf_name, storage, spec.gguf_shape, [&spec, &c, &options, storage](uint8_t* dst, size_t) {
      std::vector<float> v = values_of(spec, c, options);
      if (spec.role == VisionTensorRole::PatchMatrix) v = patch_to_conv(v, c);
      row_from_f32(storage, v.data(), dst, static_cast<int64_t>(v.size()));
    });
  }
  w.write(path);
  return generated_model_report({path}, static_cast<int64_t>(manifest.size()), start);
}

GeneratedModel write_random_vision_hf(const VisionConfig& c, const GeneratorOptions& options, const std::string& dir) {
  const auto start = std::chrono::steady_clock::now();
  c.validate("vision generator");
  create_output_folder(dir);
  json vision = {{"model_type", "gemma4_vision"},
                 {"hidden_size", c.hidden_size},
                 {"intermediate_size", c.intermediate_size},
                 {"num_hidden_layers", c.n_layers},
                 {"num_attention_heads", c.n_heads},
                 {"num_key_value_heads", c.n_heads},
                 {"head_dim", c.head_dim},
                 {"patch_size", c.patch_size},
                 {"pooling_kernel_size", c.pooling_kernel},
                 {"position_embedding_size", c.position_table_size},
                 {"rms_norm_eps", c.rms_eps},
                 {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", c.rope_theta}}},
                 {"hidden_activation", "gelu_pytorch_tanh"},
                 {"use_clipped_linears", c.clipped_linears},
                 {"standardize", c.standardize},
                 {"default_output_length", c.default_soft_tokens}};
  json config = {{"architectures", json::array({"Gemma4ForConditionalGeneration"})},
                 {"model_type", "gemma4"},
                 {"text_config", {{"hidden_size", c.text_hidden_size}}},
                 {"vision_config", vision},
                 {"image_token_id", 258880},
                 {"boi_token_id", 255999},
                 {"eoi_token_id", 258882}};
  write_text_file(dir + "/config.json", config.dump(2) + "\n");
  const std::vector<VisionTensorSpec> manifest = vision_manifest(c);
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const VisionTensorSpec& spec : manifest)
    writer.add_tensor(spec.hf_name, options.dtype, spec.hf_shape, [&spec, &c, &options](uint8_t* dst, size_t) {
      const std::vector<float> v = values_of(spec, c, options);
      row_from_f32(options.dtype, v.data(), dst, static_cast<int64_t>(v.size()));
    });
  std::vector<std::string> files = writer.write_sharded(dir, 5'000'000'000ull);
  files.push_back(dir + "/config.json");
  return generated_model_report(files, static_cast<int64_t>(manifest.size()), start);
}

}  // namespace facet
