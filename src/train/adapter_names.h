// How the adapted linear layers are named in the adapter files facet reads and writes:
// PEFT / Unsloth safetensors keys (module paths of the HF model) and llama.cpp adapter
// GGUF names (the base GGUF tensor name + ".lora_a" / ".lora_b"), finetune spec §2.2, §3.1.
#pragma once

#include <optional>
#include <string>

#include "model/model.h"
#include "train/lora.h"

namespace facet::train {

// "self_attn.q_proj", "mlp.down_proj", "per_layer_input_gate", ...: the module path inside
// an HF decoder layer.
const char* hf_module_path(LoraTarget target);
// "attn_q", "ffn_down", "inp_gate", ...: the GGUF base name inside "blk.N.".
const char* gguf_module_name(LoraTarget target);

// The base weight an adapter on (layer, target) modifies; rows == 0 when the layer has no
// such matrix (K/V on KV-shared layers, V on K=V layers, PLE projections without PLE).
WeightMatrix& adapted_matrix(ModelWeights& weights, int layer, LoraTarget target);
const WeightMatrix& adapted_matrix(const ModelWeights& weights, int layer, LoraTarget target);

// The HF module-path prefix of the decoder layers, with PEFT's "base_model.model." in
// front: "base_model.model.model.language_model.layers." for the multimodal
// Gemma4ForConditionalGeneration layout (every released checkpoint, and facet's default
// for GGUF bases), "base_model.model.model.layers." for a text-only HF folder.
std::string peft_layers_prefix(const Model& model);

// What a PEFT key names. `kind` is what follows the module path ("lora_A.weight", ...).
struct PeftKey {
  enum class Scope { DecoderLayer, Tower, Other };
  Scope scope = Scope::Other;
  int layer = -1;
  std::string module;  // path inside the layer ("self_attn.q_proj") or the whole path
  std::string kind;    // "lora_A.weight", "lora_B.weight", "lora_B.bias", "lora_embedding_A", ...
};
// Splits `key` (with or without "base_model.model."; decoder prefixes
// "model.language_model.", "model.", "language_model.model.", "language_model.").
// Vision/audio tower keys (Unsloth's "....q_proj.linear.lora_A.weight" among them) get
// Scope::Tower. Returns nullopt for a key that is not a LoRA tensor at all.
std::optional<PeftKey> parse_peft_key(const std::string& key);

// The linear-layer target a module path inside a decoder layer names, or nullopt (expert
// parameters have their own key layout, see adapter_peft.cpp).
std::optional<LoraTarget> target_from_hf_module(const std::string& module);
// "blk.N.<name>.weight" -> (N, target) when <name> is an adaptable module.
struct GgufBaseName {
  int layer = -1;
  std::string module;  // "attn_q", ... as written
};
std::optional<GgufBaseName> parse_gguf_base_name(const std::string& base);
std::optional<LoraTarget> target_from_gguf_module(const std::string& module);

// How the rows of a GGUF expert tensor ("ffn_gate_up_exps", or split "ffn_gate_exps" /
// "ffn_up_exps", and "ffn_down_exps") sit in the PEFT expert parameter an adapter targets:
// row i of expert e is row first_row + i of that expert's [param_rows, in] slice.
struct ExpertRows {
  LoraTarget target;
  int64_t rows;        // rows per expert in the GGUF tensor
  int64_t param_rows;  // rows per expert of the adapted parameter (2I for gate_up)
  int64_t first_row;
};
std::optional<ExpertRows> expert_rows_of_gguf_module(const std::string& module, const ModelConfig& config);

}  // namespace facet::train
