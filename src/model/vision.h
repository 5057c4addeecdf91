// Gemma 4's vision tower (spec §9.1): a ViT over 16x16 patches with learned 2-D position
// tables, 2-D RoPE and bidirectional attention, a 3x3 average pooler (one soft token per
// 48x48 pixels) and the projection into the text decoder's embedding space.
//
// Two file layouts hold it:
//   - llama.cpp's separate "mmproj" GGUF (general.architecture "clip", projector type
//     "gemma4v"): v.patch_embd.weight [Hv, 3, 16, 16] (a conv kernel: channel, row, column),
//     v.position_embd.weight [2, 10240, Hv], v.blk.N.{ln1, attn_q, attn_k, attn_v,
//     attn_q_norm, attn_k_norm, attn_out, attn_post_norm, ln2, ffn_gate, ffn_up, ffn_down,
//     ffn_post_norm}.weight, clamp scalars v.blk.N.<linear>.{input,output}_{min,max} ([1],
//     small towers), v.std_bias / v.std_scale [Hv] (large towers), mm.input_projection.weight
//     [Ht, Hv];
//   - Hugging Face's Gemma4ForConditionalGeneration folder: model.vision_tower.* and
//     model.embed_vision.embedding_projection.weight, the patch projection as a Linear
//     [Hv, 768] over (row, column, channel) and each Linear under ".linear.".
// The manifest below names every tensor in both.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kernels/matmul.h"
#include "media/image_preprocess.h"
#include "model/encoder_free.h"
#include "model/random_model.h"
#include "model/tower_ops.h"
#include "model/weight_source.h"

namespace facet {

class GgufFile;
class ThreadPool;

struct VisionConfig {
  int hidden_size = 768;         // Hv
  int intermediate_size = 3072;  // GeGLU width
  int n_layers = 16;
  int n_heads = 12;
  int head_dim = 64;
  int patch_size = 16;
  int pooling_kernel = 3;
  int position_table_size = 10240;
  double rms_eps = 1e-6;
  double rope_theta = 100.0;
  bool clipped_linears = true;   // E2B/E4B: every Linear clamps its input and output
  bool standardize = false;      // 26B/31B: (h - std_bias) * std_scale after pooling
  int text_hidden_size = 1536;   // Ht: width of the soft tokens
  int default_soft_tokens = 280; // the processor's budget per image

  int patch_values() const { return 3 * patch_size * patch_size; }
  void validate(const std::string& source) const;
  VisionPreprocessConfig preprocess(int max_soft_tokens = 0) const;

  static VisionConfig from_mmproj(const GgufFile& file);
  // The "vision_config" object of an HF config.json plus the text width.
  static VisionConfig from_hf_json(const nlohmann::json& vision_config, int text_hidden_size,
                                   const std::string& source);
};

// The Linear layers of a vision block, as named in GGUF (HF: q_proj, k_proj, v_proj,
// o_proj, gate_proj, up_proj, down_proj).
inline constexpr std::array<const char*, 7> kVisionLinears = {"attn_q", "attn_k", "attn_v", "attn_out",
                                                               "ffn_gate", "ffn_up", "ffn_down"};

enum class VisionTensorRole { Matrix, PatchMatrix, PositionTable, Norm, QkNorm, ResidualNorm, ClampMin, ClampMax, StdBias, StdScale };

struct VisionTensorSpec {
  std::string gguf_name, hf_name;
  std::vector<int64_t> gguf_shape, hf_shape;  // row-major, outermost first
  VisionTensorRole role;
};
std::vector<VisionTensorSpec> vision_manifest(const VisionConfig& config);

struct VisionLayerWeights {
  std::vector<float> ln1, q_norm, k_norm, attn_post_norm, ln2, ffn_post_norm;
  ClampedLinear q, k, v, out, gate, up, down;
};

struct VisionWeights {
  // The patch projection [Hv, 768] with its columns in (row, column, channel) order, as
  // the preprocessor's patches (a GGUF conv kernel is reordered once at load).
  std::vector<float> patch_proj;
  std::vector<float> position_x, position_y;  // [table, Hv] each
  std::vector<float> std_bias, std_scale;     // [Hv] (standardize only)
  std::vector<VisionLayerWeights> layers;
  WeightMatrix projection;                    // [Ht, Hv]
};

// What turns an image into soft tokens. For the 12B (encoder-free, see encoder_free.h)
// `encoder_free` is set, `weights` and `source` are empty and `config` holds only what
// preprocessing and callers read: patch size, pooling kernel, default budget, text width.
struct VisionTower {
  std::string path;
  VisionConfig config;
  std::unique_ptr<WeightSource> source;
  VisionWeights weights;
  std::unique_ptr<EncoderFreeVision> encoder_free;
};

// Loads an mmproj GGUF (projector gemma4v), an HF Gemma4ForConditionalGeneration folder's
// vision tower or an HF Gemma4UnifiedForConditionalGeneration (12B) folder's image embedder. Throws Error naming the file and the problem (not a vision projector, a
// missing or misshapen tensor, an audio-only mmproj).
std::unique_ptr<VisionTower> load_vision_tower(const std::string& path);
// True when `path` is an mmproj GGUF with a vision encoder or a model folder whose
// config.json has a vision_config; false otherwise (and for unreadable paths).
bool has_vision_tower(const std::string& path);

// Soft tokens [soft_tokens, Ht] of one preprocessed image: patch embedding, the encoder
// layers, 3x3 average pooling × √Hv, standardize (large towers), scale-less RMSNorm and
// the projection. The patches come from image_to_patches with this tower's patch size.
std::vector<float> encode_image(const VisionTower& tower, const ImagePatches& patches, ThreadPool& pool);

// A random tower of the real shapes (make-test-model), written as an mmproj GGUF; the
// values follow the seeded recipe of random models (random_init.h).
GeneratedModel write_random_mmproj(const VisionConfig& config, const GeneratorOptions& options, const std::string& path);
// The same values as an HF folder holding only the vision part: model.safetensors with
// model.vision_tower.* and model.embed_vision.*, config.json with vision_config and
// text_config.hidden_size.
GeneratedModel write_random_vision_hf(const VisionConfig& config, const GeneratorOptions& options, const std::string& dir);

}  // namespace facet
