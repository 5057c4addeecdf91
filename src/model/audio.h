// Gemma 4's audio tower (E2B, E4B; spec §9.2): a conformer over log-mel features. Two
// stride-2 3x3 convolutions (each with a LayerNorm over channels and ReLU) cut time 4x
// (one soft token per 40 ms); a Linear brings the flattened (frequency, channel) values to
// the conformer width; 12 conformer layers (half-step FFN, causal local attention over 12
// keys with a relative sinusoidal bias, light conv module, half-step FFN, RMSNorm); an
// output Linear with bias; then "embed_audio": a scale-less RMSNorm and the projection into
// the text decoder's embedding space.
//
// Two file layouts hold it:
//   - llama.cpp's "mmproj" GGUF (general.architecture "clip", clip.audio.projector_type
//     "gemma4a"): a.conv1d.{0,1}.weight (+ .norm.weight), a.input_projection.weight,
//     a.blk.N.{ffn_norm, ffn_up, ffn_down, ffn_post_norm, attn_pre_norm, attn_q, attn_k,
//     attn_v, attn_out, attn_k_rel, per_dim_scale, attn_post_norm, conv_norm, conv_pw1,
//     conv_dw, norm_conv, conv_pw2, ffn_norm_1, ffn_up_1, ffn_down_1, ffn_post_norm_1,
//     ln2}.weight, clamp scalars a.blk.N.<linear>.{input,output}_{min,max} ([1]),
//     a.pre_encode.out.{weight,bias}, mm.a.input_projection.weight. Quirks of that file:
//     conv_norm is the norm *before* linear_start and norm_conv the one *after* the
//     depthwise conv (the names are swapped against what they do); per_dim_scale holds
//     softplus(raw) already; the depthwise kernel is 2-D [H, k];
//   - Hugging Face's Gemma4ForConditionalGeneration folder: model.audio_tower.* (each
//     clipped Linear under ".linear." with 0-d clamp scalars beside it, per_dim_scale raw)
//     and model.embed_audio.embedding_projection.weight.
// The manifest below names every tensor in both.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "media/audio_features.h"
#include "model/encoder_free.h"
#include "model/random_model.h"
#include "model/tower_ops.h"
#include "model/weight_source.h"

namespace facet {

class GgufFile;
class ThreadPool;

struct AudioConfig {
  int hidden_size = 1024;           // conformer width
  int n_layers = 12;
  int n_heads = 8;
  int head_dim = 128;
  int ffn_size = 4096;              // HF hard-codes 4 x hidden_size
  std::array<int, 2> sscp_channels = {128, 32};  // the two subsampling convolutions
  int mel_bins = 128;               // input features per frame
  int conv_kernel = 5;              // causal depthwise conv of the light conv module
  int chunk_size = 12;              // HF's attention blocks (no effect on the result, see audio_forward.cpp)
  int context_left = 13;            // keys per query = context_left - 1 (self + 11 previous)
  int context_right = 0;            // only 0 is supported (the released value)
  double logit_cap = 50.0;
  double residual_weight = 0.5;     // FFN half step
  double rms_eps = 1e-6;            // every RMSNorm and the subsampling LayerNorms
  double gradient_clipping = 1e10;  // clamp(x, ±min(this, FLT_MAX)) at HF's clip points
  bool clipped_linears = true;      // every ClippableLinear clamps its input and output
  int output_dims = 1536;           // output Linear width
  int text_hidden_size = 1536;      // Ht: width of the soft tokens

  // Keys each query sees (itself and the previous ones) = rows - 1 of the position table.
  int attention_window() const { return context_left - 1; }
  // Frequency bins after the two stride-2 convolutions (128 -> 64 -> 32).
  int subsampled_bins() const { return ((mel_bins + 1) / 2 + 1) / 2; }
  // Width of one flattened subsampled frame: bins x channels of the second convolution.
  int flattened_width() const { return subsampled_bins() * sscp_channels[1]; }
  void validate(const std::string& source) const;

  static AudioConfig from_mmproj(const GgufFile& file);
  // The "audio_config" object of an HF config.json plus the text width.
  static AudioConfig from_hf_json(const nlohmann::json& audio_config, int text_hidden_size,
                                  const std::string& source);
};

enum class AudioTensorRole {
  Matrix,          // a Linear weight [out, in]
  ConvKernel,      // a subsampling Conv2d kernel [out, in, 3, 3]
  DepthwiseKernel, // GGUF [H, k], HF [H, 1, k]
  Norm,            // RMSNorm / LayerNorm weight applied as x̂·w (no +1)
  ResidualNorm,    // a norm whose output joins the residual stream
  PerDimScale,     // GGUF: softplus(raw); HF: raw
  Bias,
  ClampMin,
  ClampMax,
};

struct AudioTensorSpec {
  std::string gguf_name, hf_name;
  std::vector<int64_t> gguf_shape, hf_shape;  // row-major, outermost first
  AudioTensorRole role;
  bool gguf_f32 = false;  // llama.cpp's converter stores it in F32 whatever the weight type
};
std::vector<AudioTensorSpec> audio_manifest(const AudioConfig& config);

struct AudioLayerWeights {
  // Norm weights (named after HF's modules).
  std::vector<float> ffn1_pre, ffn1_post, attn_pre, attn_post, conv_pre, conv_norm, ffn2_pre, ffn2_post, out_norm;
  ClampedLinear ffn1_up, ffn1_down, q, k, v, attn_out, conv_start, conv_end, ffn2_up, ffn2_down;
  WeightMatrix relative_k;               // [H, H], no clamps
  std::vector<float> per_dim_scale;      // [head_dim], softplus already applied
  std::vector<float> depthwise;          // [H, kernel]
};

struct AudioWeights {
  std::vector<float> conv0, conv1;       // [C0, 1·9], [C1, C0·9]: (in channel, row, column) per output
  std::vector<float> conv0_norm, conv1_norm;
  WeightMatrix input_proj;               // [H, flattened_width]
  std::vector<AudioLayerWeights> layers;
  WeightMatrix output_proj;              // [output_dims, H]
  std::vector<float> output_bias;        // [output_dims]
  WeightMatrix projection;               // [Ht, output_dims]
};

// What turns a clip into soft tokens. For the 12B (encoder-free, see encoder_free.h)
// `encoder_free` is set, reads the waveform itself (not log-mel features), and `config`
// holds only the text width.
struct AudioTower {
  std::string path;
  AudioConfig config;
  std::unique_ptr<WeightSource> source;
  AudioWeights weights;
  std::unique_ptr<EncoderFreeAudio> encoder_free;
};

// Loads an mmproj GGUF with a gemma4a audio encoder, an HF Gemma4ForConditionalGeneration
// folder's audio tower or an HF Gemma4UnifiedForConditionalGeneration (12B) folder's audio
// embedder. Throws Error naming the file and the problem (not a projector, no
// audio encoder, a missing or misshapen tensor).
std::unique_ptr<AudioTower> load_audio_tower(const std::string& path);
// True when `path` is an mmproj GGUF with an audio encoder or a model folder whose
// config.json has an audio_config; false otherwise (and for unreadable paths).
bool has_audio_tower(const std::string& path);

// Soft tokens [audio_soft_tokens(features.frames), Ht] of one clip's log-mel features (all
// frames valid, as audio_features() makes them). Clips over 30 s (more than 750 tokens)
// are an error: split them first. Not for the 12B's encoder-free embedder (it reads the
// waveform: embed_audio_encoder_free); given one, an Error.
std::vector<float> encode_audio(const AudioTower& tower, const AudioFeatures& features, ThreadPool& pool);

// A random tower of the given shapes (make-test-model), written as an mmproj GGUF; values
// follow the seeded recipe of random models (random_init.h).
GeneratedModel write_random_audio_mmproj(const AudioConfig& config, const GeneratorOptions& options,
                                         const std::string& path);
// The same values as an HF folder holding only the audio part: model.safetensors with
// model.audio_tower.* and model.embed_audio.*, config.json with audio_config and
// text_config.hidden_size.
GeneratedModel write_random_audio_hf(const AudioConfig& config, const GeneratorOptions& options,
                                     const std::string& dir);

}  // namespace facet
