// Random encoder-free embedders (12B) for tests: every tensor of the manifests drawn from the
// seeded counter-based generator of random models (random_init.h), written with HF's names.
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "model/encoder_free.h"
#include "model/random_init.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

// Matrices scaled by fan-in (so LayerNorm-ed inputs give outputs of order 1), LayerNorm weights
// near 1 with small biases, a position table of the same order as the normalised patches.
InitRule encoder_free_rule(const EncoderFreeTensorSpec& spec) {
  using R = EncoderFreeTensorRole;
  using K = InitRule::Kind;
  switch (spec.role) {
    case R::Matrix: return {K::Normal, 0.0, 1.0 / std::sqrt(static_cast<double>(spec.hf_shape.back()))};
    case R::Bias: return {K::Normal, 0.0, 0.1};
    case R::NormWeight: return {K::Normal, 1.0, 0.1};
    case R::NormBias: return {K::Normal, 0.0, 0.1};
    case R::PositionTable: return {K::Normal, 0.0, 0.5};
  }
  return {};
}

void add_tensors(const std::vector<EncoderFreeTensorSpec>& manifest, const GeneratorOptions& options,
                 SafetensorsWriter& writer) {
  for (const EncoderFreeTensorSpec& spec : manifest)
    writer.add_tensor(spec.hf_name, options.dtype, spec.hf_shape, [spec, &options](uint8_t* dst, size_t) {
      const std::vector<float> v = random_tensor_values(encoder_free_rule(spec), tensor_key(options.seed, spec.hf_name),
                                                        spec.hf_shape, options.dtype);
      row_from_f32(options.dtype, v.data(), dst, static_cast<int64_t>(v.size()));
    });
}

}  // namespace

void add_random_encoder_free_parts(const EncoderFreeVisionConfig* vision, const EncoderFreeAudioConfig* audio,
                                   const GeneratorOptions& options, json& config, SafetensorsWriter& writer) {
  if (vision) {
    vision->validate("encoder-free vision generator");
    config["vision_config"] = {{"model_type", "gemma4_unified_vision"},
                               {"patch_size", vision->patch_size},
                               {"pooling_kernel_size", vision->pooling_kernel},
                               {"mm_embed_dim", vision->embed_dim},
                               {"mm_posemb_size", vision->position_table_size},
                               {"rms_norm_eps", vision->rms_eps},
                               {"output_proj_dims", vision->text_hidden_size},
                               {"default_output_length", vision->default_soft_tokens}};
    config["image_token_id"] = 258880;
    config["boi_token_id"] = 255999;
    config["eoi_token_id"] = 258882;
    add_tensors(encoder_free_vision_manifest(*vision), options, writer);
  }
  if (audio) {
    audio->validate("encoder-free audio generator");
    config["audio_config"] = {{"model_type", "gemma4_unified_audio"},
                              {"audio_embed_dim", audio->samples_per_token},
                              {"rms_norm_eps", audio->rms_eps}};
    config["audio_token_id"] = 258881;
    add_tensors(encoder_free_audio_manifest(*audio), options, writer);
  }
}

GeneratedModel write_random_encoder_free_hf(const EncoderFreeVisionConfig* vision, const EncoderFreeAudioConfig* audio,
                                            const GeneratorOptions& options, const std::string& dir) {
  const auto start = std::chrono::steady_clock::now();
  require(vision || audio, "encoder-free generator: neither a vision nor an audio embedder to write");
  const int text_hidden = vision ? vision->text_hidden_size : audio->text_hidden_size;
  require(!vision || !audio || vision->text_hidden_size == audio->text_hidden_size,
          "encoder-free generator: the vision and audio embedders feed different text widths");
  create_output_folder(dir);
  json config = {{"architectures", json::array({"Gemma4UnifiedForConditionalGeneration"})},
                 {"model_type", "gemma4_unified"},
                 {"text_config", {{"model_type", "gemma4_unified_text"}, {"hidden_size", text_hidden}}}};
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  add_random_encoder_free_parts(vision, audio, options, config, writer);
  write_text_file(dir + "/config.json", config.dump(2) + "\n");
  std::vector<std::string> files = writer.write_sharded(dir, 5'000'000'000ull);
  files.push_back(dir + "/config.json");
  return generated_model_report(files, static_cast<int64_t>(writer.tensor_count()), start);
}

}  // namespace facet
