// Gemma 4's multi-token-prediction drafters ("assistant" models, spec §8): HF model_type
// gemma4_assistant, GGUF general.architecture "gemma4-assistant". A drafter is a few
// Gemma 4 decoder layers that own no K/V: each layer's queries read the *target's* cache
// (sliding layers the target's last KV-owning sliding layer, full layers its last
// KV-owning full layer). One draft step takes
//   [target embedding of the token × √H_target, a target-width hidden state]
//   → pre_projection → layers → final norm → (logits through the drafter's own tied
//   embedding; post_projection → the hidden state for the next step).
// The first step's hidden state is the target's final (normed) hidden state after the
// last token it ran; later steps feed back the drafter's own post_projection output. The
// query position and the visible keys stay those of that anchor token for every step
// (the "single position" scheme of the released checkpoints).
//
// Tensor names (GGUF / HF, the latter under "model." for the decoder):
//   token_embd.weight            / model.embed_tokens.weight        [V, H]  (tied head)
//   output_norm.weight           / model.norm.weight                [H]
//   nextn.pre_projection.weight  / pre_projection.weight            [H, 2·Hb]
//   nextn.post_projection.weight / post_projection.weight           [Hb, H]
//   masked_embd_centroids.weight / masked_embedding.centroids.weight [C, H]   (optional)
//   masked_embd_ordering         / masked_embedding.token_ordering   [V] ints (optional)
//   blk.N.{attn_norm, attn_q, attn_q_norm, attn_output, post_attention_norm, ffn_norm,
//          ffn_gate, ffn_up, ffn_down, post_ffw_norm, layer_output_scale}
//        / model.layers.N.{input_layernorm, self_attn.q_proj, self_attn.q_norm, ...}
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/kv_cache.h"
#include "model/model.h"
#include "model/model_config.h"
#include "model/random_model.h"
#include "model/tensor_manifest.h"
#include "model/weight_source.h"

namespace facet {

class GgufFile;
class ThreadPool;

struct AssistantConfig {
  std::string name;
  int vocab_size = 0;
  int hidden_size = 0;           // H: the drafter's own width (256 for E2B's)
  int backbone_hidden_size = 0;  // Hb: the target's width (1536 for E2B)
  int n_layers = 0;
  int n_heads = 0;               // query heads per layer
  int sliding_window = 0;        // as the target's: a query sees the last W positions
  double rms_eps = 1e-6;
  RopeConfig rope_sliding, rope_full;
  // Per layer: kind, head_dim, n_kv_heads (the target layer's it reads), ffn_width.
  // owns_kv is false on every layer.
  std::vector<LayerConfig> layers;
  // Ordered ("masked") embeddings: logits only for the tokens of the `centroid_top_k` best
  // of `n_centroids` clusters (vocab_size / n_centroids tokens each); the rest get the
  // smallest computed logit minus one.
  bool ordered_embeddings = false;
  int n_centroids = 0;
  int centroid_top_k = 0;

  const RopeConfig& rope(LayerKind kind) const { return kind == LayerKind::Sliding ? rope_sliding : rope_full; }
  void validate(const std::string& source) const;

  static AssistantConfig from_gguf(const GgufFile& file);
  // An HF config.json of model_type gemma4_assistant (text_config + backbone_hidden_size).
  static AssistantConfig from_hf_json(const nlohmann::json& config, const std::string& source);
};

// Every tensor of a drafter with its GGUF name, HF name (full, prefix included) and shape.
// masked_embd_ordering is listed with role Embedding and shape [V] (stored as integers).
std::vector<TensorSpec> assistant_manifest(const AssistantConfig& config);

struct AssistantLayerWeights {
  std::vector<float> attn_norm, q_norm, post_attn_norm, ffn_norm, post_ffw_norm;
  WeightMatrix q, o, gate, up, down;
  float layer_scalar = 1.0f;
};

struct AssistantWeights {
  TensorView token_embd;           // [V, H], also the output head
  std::vector<float> output_norm;  // [H]
  WeightMatrix pre_projection;     // [H, 2·Hb]
  WeightMatrix post_projection;    // [Hb, H]
  WeightMatrix centroids;          // [C, H] (ordered embeddings only)
  std::vector<int32_t> token_ordering;  // [V]: cluster c owns ids token_ordering[c·V/C ... (c+1)·V/C)
  std::vector<AssistantLayerWeights> layers;
};

struct AssistantModel {
  std::string path;
  AssistantConfig config;
  std::unique_ptr<WeightSource> source;
  AssistantWeights weights;
};

// Loads a gemma4-assistant GGUF file or an HF gemma4_assistant folder. Throws Error naming
// the file and the problem (a missing or misshapen tensor, a bad token ordering, ...).
std::unique_ptr<AssistantModel> load_assistant(const std::string& path);

// True when `path` holds a drafter (GGUF architecture gemma4-assistant or an HF folder whose
// config.json says gemma4_assistant); false for anything else, including unreadable paths.
bool is_assistant_model(const std::string& path);

// Throws Error unless the drafter was made for `target`: same vocabulary size, backbone
// width = the target's hidden size, and for each layer kind it uses, a KV-owning target
// layer of that kind with the same head size and a KV head count dividing the drafter's
// query heads.
void check_assistant_fits(const AssistantModel& assistant, const ModelConfig& target);

struct AssistantStepResult {
  std::vector<float> logits;  // [V] (ordered embeddings: unselected tokens get min − 1)
  std::vector<float> hidden;  // [Hb]: post_projection output, the next step's hidden state
};

// One draft step. `token`: the token to draft after (its embedding comes from the target);
// `hidden`: [Hb] (the target's final normed hidden state for the first step, the previous
// step's result after that); queries sit at `position` and see the target cache's
// positions [0, position] (sliding layers: the last `sliding_window` of them), which the
// cache must hold. check_assistant_fits must have passed.
AssistantStepResult assistant_step(const AssistantModel& assistant, const Model& target, const KvCache& target_cache,
                                   int32_t token, std::span<const float> hidden, int64_t position, ThreadPool& pool);

// Random drafters of the real shapes for tests and benchmarks (make-test-model): every
// tensor of the manifest from the seeded init recipe, a random permutation as the token
// ordering (ordered embeddings), written as a GGUF file or an HF folder (config.json +
// model.safetensors) holding the same values.
GeneratedModel write_random_assistant_gguf(const AssistantConfig& config, const GeneratorOptions& options,
                                           const std::string& path);
GeneratedModel write_random_assistant_hf(const AssistantConfig& config, const GeneratorOptions& options,
                                         const std::string& dir);
// A generator config file for a drafter: an HF gemma4_assistant config plus "name", "seed", "dtype".
struct AssistantGeneratorConfig {
  AssistantConfig assistant;
  GeneratorOptions options;
};
AssistantGeneratorConfig load_assistant_generator_config(const std::string& path);

}  // namespace facet
