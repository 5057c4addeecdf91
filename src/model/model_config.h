// ModelConfig: everything the forward pass needs to know about a Gemma 4 text decoder,
// derived once from GGUF metadata or an HF config.json. Variant differences (K=V layers,
// KV sharing, PLE, MoE, head sizes, double-wide MLP) are data here: the forward pass
// never asks which named variant it runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace facet {

class GgufFile;

enum class LayerKind { Sliding, Full };
const char* layer_kind_name(LayerKind kind);

// RoPE of one layer kind ("NeoX" rotate-half pairing, spec §4.5.1). Pair i (0 <= i < D/2)
// pairs dims i and i + D/2 and turns at inv_freq[i] = theta^(-2i/D) / freq_factor[i];
// pairs at or beyond `rotated_pairs` stay unrotated (proportional RoPE of full layers).
struct RopeConfig {
  double theta = 10000.0;
  int head_dim = 0;
  int rotated_pairs = 0;
  std::vector<double> freq_factors;  // one per rotated pair; 1.0 unless the file says otherwise
};

struct LayerConfig {
  LayerKind kind = LayerKind::Sliding;
  int head_dim = 0;       // D: 256 sliding / 512 full in released models
  int n_kv_heads = 0;     // KV heads of this layer (or of its source, if it borrows KV)
  bool k_eq_v = false;    // full layers of 12B/26B/31B: V comes from the K projection
  bool owns_kv = true;    // false on KV-shared layers (they compute no K/V)
  int kv_source = 0;      // this layer's own index if it owns KV, else the layer it reads
  int ffn_width = 0;      // dense MLP width (doubled on E2B's KV-shared layers)
};

struct ModelConfig {
  std::string name;             // general.name or the folder name, for display
  int vocab_size = 0;
  int hidden_size = 0;          // H
  int n_layers = 0;             // L
  int n_heads = 0;              // query heads on every layer
  int sliding_window = 0;       // W: a query sees itself and the W-1 tokens before it
  int n_kv_shared_layers = 0;   // the last this many layers borrow KV
  double rms_eps = 1e-6;
  double final_logit_softcap = 30.0;
  int max_context = 0;          // max_position_embeddings / context_length

  // use_bidirectional_attention = "vision" (12B, 26B, 31B; spec §4.3): the soft tokens of one
  // image also see the later ones of the same image, on every layer; text stays causal.
  bool bidirectional_images = false;

  int ple_dim = 0;              // P: per-layer-embedding width (0 = no PLE)
  int ple_vocab = 0;            // rows of the per-layer token table

  int n_experts = 0;            // 0 = no MoE block
  int n_experts_used = 0;
  int expert_ffn_width = 0;

  RopeConfig rope_sliding, rope_full;

  int bos_id = 2, eos_id = 1, pad_id = 0;

  std::vector<LayerConfig> layers;

  bool has_ple() const { return ple_dim > 0; }
  bool has_moe() const { return n_experts > 0; }
  int first_shared_layer() const { return n_layers - n_kv_shared_layers; }
  const RopeConfig& rope(LayerKind kind) const {
    return kind == LayerKind::Sliding ? rope_sliding : rope_full;
  }
  // A short description such as "E2B-shaped" when the dimensions match a released
  // model, else "custom"; for `facet info` only, never for decisions.
  std::string shape_family() const;

  // Checks internal consistency; throws Error naming `source` and the field.
  void validate(const std::string& source) const;

  static ModelConfig from_gguf(const GgufFile& file);
  // `config` is an HF config.json (Gemma4ForConditionalGeneration with text_config, or
  // Gemma4ForCausalLM / gemma4_text / gemma4_unified). `source` names it in errors.
  static ModelConfig from_hf_json(const nlohmann::json& config, const std::string& source);
  static ModelConfig from_hf_file(const std::string& config_json_path);
};

// Fills the derived per-layer fields (kv_source, n_kv_heads for sharers, ...) from the
// kinds and per-kind settings. Shared by both parsers and by tests.
void derive_kv_sharing(ModelConfig& config, const std::string& source);
// The full layers' RoPE of a GGUF file: llama.cpp's rope_freqs.weight (1.0 for rotated
// pairs, 1e30 for the rest) when present, else Gemma 4's default quarter rotation.
RopeConfig rope_from_freqs_tensor(const GgufFile& file, double theta, int head_dim);
// The proportional/default RoPE for a kind given partial_rotary_factor.
RopeConfig make_rope(double theta, int head_dim, double partial_rotary_factor);

}  // namespace facet
