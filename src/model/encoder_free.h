// Gemma 4 12B "unified": the encoder-free image and audio embedders (spec §7). The 12B has
// no vision or audio tower; media enter the decoder through small linear embedders:
//   - image: the processor's 48x48-pixel patches (16-px patches merged 3x3, 6912 values in
//     (row, column, channel) order, pixels in [0, 1]) -> LayerNorm(6912) -> Linear 6912 -> E
//     with bias -> LayerNorm(E) -> + table[x, 0] + table[y, 1] (a factorised 2-D position
//     table [size, 2, E]) -> LayerNorm(E) -> scale-less RMSNorm -> Linear E -> Ht. One soft
//     token per 48-px patch. LayerNorms are affine with bias and PyTorch's eps 1e-5;
//   - audio: the 16 kHz waveform cut into 640-sample frames (the last one zero-padded), each
//     frame -> scale-less RMSNorm -> Linear 640 -> Ht. One soft token per 40 ms.
// Hugging Face's Gemma4UnifiedForConditionalGeneration folder holds them beside the decoder:
// model.embed_vision.{patch_ln1, patch_dense, patch_ln2, pos_norm}.{weight, bias},
// model.embed_vision.pos_embedding, model.embed_vision.multimodal_embedder.
// embedding_projection.weight and model.embed_audio.embedding_projection.weight; config.json's
// vision_config (model_type gemma4_unified_vision: patch_size, pooling_kernel_size,
// mm_embed_dim, mm_posemb_size, rms_norm_eps) and audio_config (gemma4_unified_audio:
// audio_embed_dim = samples per token). llama.cpp's names for them are not known here, so
// only HF folders carry them (the decoder itself loads from GGUF as any Gemma 4).
//
// load_vision_tower / load_audio_tower (vision.h, audio.h) return these inside a VisionTower /
// AudioTower, so every caller that turns media into soft tokens takes the 12B unchanged.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kernels/matmul.h"
#include "media/audio.h"
#include "media/image_preprocess.h"
#include "model/random_model.h"
#include "model/weight_source.h"

namespace facet {

class SafetensorsWriter;
class ThreadPool;

struct EncoderFreeVisionConfig {
  int patch_size = 16;              // the processor's patches before merging
  int pooling_kernel = 3;           // k x k patches merge into one 48-px patch, one soft token
  int embed_dim = 3840;             // E: mm_embed_dim
  int position_table_size = 1120;   // mm_posemb_size: positions 0 .. size-1 on each axis
  double rms_eps = 1e-6;            // the scale-less RMSNorm before the projection
  double layer_norm_eps = 1e-5;     // PyTorch's LayerNorm default (the config has no key)
  int text_hidden_size = 3840;      // Ht
  int default_soft_tokens = 280;    // the processor's budget per image

  int merged_patch() const { return patch_size * pooling_kernel; }
  int patch_values() const { return 3 * merged_patch() * merged_patch(); }
  void validate(const std::string& source) const;
  static EncoderFreeVisionConfig from_hf_json(const nlohmann::json& vision_config, int text_hidden_size,
                                              const std::string& source);
};

struct EncoderFreeAudioConfig {
  int samples_per_token = 640;  // audio_embed_dim: 40 ms at 16 kHz
  int sample_rate = 16000;
  double rms_eps = 1e-6;
  int max_tokens = 750;         // 30 s, as Gemma 4's audio guide; longer clips are cut there
  int text_hidden_size = 3840;  // Ht

  void validate(const std::string& source) const;
  static EncoderFreeAudioConfig from_hf_json(const nlohmann::json& audio_config, int text_hidden_size,
                                             const std::string& source);
};

// True for an HF vision_config / audio_config of the encoder-free kind (model_type
// gemma4_unified_vision / gemma4_unified_audio, or their width keys without a model_type).
bool is_encoder_free_vision_config(const nlohmann::json& vision_config);
bool is_encoder_free_audio_config(const nlohmann::json& audio_config);

enum class EncoderFreeTensorRole { Matrix, Bias, NormWeight, NormBias, PositionTable };

// One tensor of the embedders, by its HF name (the only layout that holds them). `gguf_name`
// equals `hf_name` so the tower binder and name-mapping source take these manifests as they are.
struct EncoderFreeTensorSpec {
  std::string gguf_name, hf_name;
  std::vector<int64_t> gguf_shape, hf_shape;
  EncoderFreeTensorRole role;
};
std::vector<EncoderFreeTensorSpec> encoder_free_vision_manifest(const EncoderFreeVisionConfig& config);
std::vector<EncoderFreeTensorSpec> encoder_free_audio_manifest(const EncoderFreeAudioConfig& config);

struct EncoderFreeVision {
  EncoderFreeVisionConfig config;
  std::unique_ptr<WeightSource> source;
  std::vector<float> ln1_weight, ln1_bias;          // [6912]
  WeightMatrix dense;                               // [E, 6912]
  std::vector<float> dense_bias;                    // [E]
  std::vector<float> ln2_weight, ln2_bias;          // [E]
  std::vector<float> position_table;                // [size, 2, E]
  std::vector<float> pos_norm_weight, pos_norm_bias;  // [E]
  WeightMatrix projection;                          // [Ht, E]
};

struct EncoderFreeAudio {
  EncoderFreeAudioConfig config;
  std::unique_ptr<WeightSource> source;
  WeightMatrix projection;  // [Ht, samples_per_token]
};

// Load the embedders from an HF folder given its config.json objects. Throw Error naming the
// folder and the problem (a missing or misshapen tensor, a bad config value).
std::unique_ptr<EncoderFreeVision> load_encoder_free_vision(const std::string& dir, const nlohmann::json& vision_config,
                                                            int text_hidden_size, const std::string& config_path);
std::unique_ptr<EncoderFreeAudio> load_encoder_free_audio(const std::string& dir, const nlohmann::json& audio_config,
                                                          int text_hidden_size, const std::string& config_path);

// Soft tokens [patch_rows/k * patch_cols/k, Ht] of one image cut by image_to_patches with this
// embedder's patch size and pooling kernel (config.preprocess()): each k x k block of patches is
// merged into one 48-px patch, in row-major order of the merged grid, as HF's patches_merge.
std::vector<float> embed_image_encoder_free(const EncoderFreeVision& embedder, const ImagePatches& patches,
                                            ThreadPool& pool);

// Soft tokens of a clip already at config.sample_rate (mono): one per samples_per_token
// samples (rounded up), at most max_tokens (later samples are dropped). An empty clip is an error.
std::vector<float> embed_audio_encoder_free(const EncoderFreeAudio& embedder, const AudioClip& clip,
                                            ThreadPool& pool);
// The number of soft tokens a clip of `samples` samples makes.
int encoder_free_audio_tokens(int64_t samples, const EncoderFreeAudioConfig& config);

// Random embedders for tests (make-test-model): adds their tensors to `writer` (as
// model.embed_vision.* / model.embed_audio.*) and their vision_config / audio_config to an
// HF `config` object. Either config may be null. Values follow the seeded recipe of random
// models (random_init.h), rounded to options.dtype.
void add_random_encoder_free_parts(const EncoderFreeVisionConfig* vision, const EncoderFreeAudioConfig* audio,
                                   const GeneratorOptions& options, nlohmann::json& config, SafetensorsWriter& writer);
// The same as a folder holding only the embedders (config.json with model_type
// gemma4_unified, text_config.hidden_size and the media configs; model.safetensors), usable
// as --mmproj for a 12B decoder stored elsewhere.
GeneratedModel write_random_encoder_free_hf(const EncoderFreeVisionConfig* vision, const EncoderFreeAudioConfig* audio,
                                            const GeneratorOptions& options, const std::string& dir);

}  // namespace facet
