#include "train/adapter_names.h"

#include <cstdlib>

#include "util/error.h"

namespace facet::train {
namespace {

struct TargetNames {
  LoraTarget target;
  const char* hf;
  const char* gguf;
};
// Finetune spec §3.1: the HF module -> GGUF base name table for the adaptable layers.
constexpr TargetNames kNames[] = {
    {LoraTarget::Q, "self_attn.q_proj", "attn_q"},
    {LoraTarget::K, "self_attn.k_proj", "attn_k"},
    {LoraTarget::V, "self_attn.v_proj", "attn_v"},
    {LoraTarget::O, "self_attn.o_proj", "attn_output"},
    {LoraTarget::Gate, "mlp.gate_proj", "ffn_gate"},
    {LoraTarget::Up, "mlp.up_proj", "ffn_up"},
    {LoraTarget::Down, "mlp.down_proj", "ffn_down"},
    {LoraTarget::PleGate, "per_layer_input_gate", "inp_gate"},
    {LoraTarget::PleProj, "per_layer_projection", "proj"},
    // PEFT target_parameters: the parameter path (ParamWrapper keys differ, adapter_peft.cpp).
    {LoraTarget::ExpertGateUp, "experts.gate_up_proj", "ffn_gate_up_exps"},
    {LoraTarget::ExpertDown, "experts.down_proj", "ffn_down_exps"},
};

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// Parses a non-negative decimal index at the start of `s` (up to the next '.').
std::optional<int> leading_index(const std::string& s, size_t& consumed) {
  size_t i = 0;
  while (i < s.size() && i < 9 && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == 0 || i >= s.size() || s[i] != '.') return std::nullopt;
  consumed = i + 1;
  return std::atoi(s.substr(0, i).c_str());
}

}  // namespace

const char* hf_module_path(LoraTarget target) { return kNames[static_cast<int>(target)].hf; }
const char* gguf_module_name(LoraTarget target) { return kNames[static_cast<int>(target)].gguf; }

std::optional<ExpertRows> expert_rows_of_gguf_module(const std::string& module, const ModelConfig& c) {
  if (!c.has_moe()) return std::nullopt;
  const int64_t I = c.expert_ffn_width, H = c.hidden_size;
  if (module == "ffn_gate_up_exps") return ExpertRows{LoraTarget::ExpertGateUp, 2 * I, 2 * I, 0};
  if (module == "ffn_gate_exps") return ExpertRows{LoraTarget::ExpertGateUp, I, 2 * I, 0};
  if (module == "ffn_up_exps") return ExpertRows{LoraTarget::ExpertGateUp, I, 2 * I, I};
  if (module == "ffn_down_exps") return ExpertRows{LoraTarget::ExpertDown, H, H, 0};
  return std::nullopt;
}

WeightMatrix& adapted_matrix(ModelWeights& weights, int layer, LoraTarget target) {
  LayerWeights& w = weights.layers.at(static_cast<size_t>(layer));
  switch (target) {
    case LoraTarget::Q: return w.q;
    case LoraTarget::K: return w.k;
    case LoraTarget::V: return w.v;
    case LoraTarget::O: return w.o;
    case LoraTarget::Gate: return w.gate;
    case LoraTarget::Up: return w.up;
    case LoraTarget::Down: return w.down;
    case LoraTarget::PleGate: return w.ple_gate;
    case LoraTarget::PleProj: return w.ple_proj;
    case LoraTarget::ExpertGateUp:
    case LoraTarget::ExpertDown: break;  // 3-D parameters, no WeightMatrix (expert_lora.h)
  }
  fail("internal: LoRA target ", lora_target_name(target), " has no weight matrix");
}

const WeightMatrix& adapted_matrix(const ModelWeights& weights, int layer, LoraTarget target) {
  return adapted_matrix(const_cast<ModelWeights&>(weights), layer, target);
}

std::string peft_layers_prefix(const Model& model) {
  // An HF source reports the file's own names; a text-only folder uses "model.layers.".
  const std::string q0 = model.source ? model.source->source_name("blk.0.attn_q.weight") : "";
  if (starts_with(q0, "model.layers.")) return "base_model.model.model.layers.";
  return "base_model.model.model.language_model.layers.";
}

std::optional<PeftKey> parse_peft_key(const std::string& full) {
  static const char* const kKinds[] = {".lora_A.weight", ".lora_B.weight", ".lora_B.bias",
                                       ".lora_embedding_A", ".lora_embedding_B", ".lora_magnitude_vector.weight",
                                       ".lora_magnitude_vector"};
  PeftKey key;
  std::string path = full;
  bool found = false;
  for (const char* kind : kKinds) {
    const std::string k = kind;
    if (path.size() > k.size() && path.compare(path.size() - k.size(), k.size(), k) == 0) {
      key.kind = k.substr(1);
      path.resize(path.size() - k.size());
      found = true;
      break;
    }
  }
  if (!found) return std::nullopt;
  if (starts_with(path, "base_model.model.")) path = path.substr(17);
  key.module = path;
  for (const char* tower : {"vision_tower.", "audio_tower.", "embed_vision.", "embed_audio.", "multi_modal_projector."})
    if (path.find(tower) != std::string::npos) {
      key.scope = PeftKey::Scope::Tower;
      return key;
    }
  for (const char* prefix : {"model.language_model.layers.", "model.layers.", "language_model.model.layers.",
                             "language_model.layers."}) {
    if (!starts_with(path, prefix)) continue;
    const std::string rest = path.substr(std::string(prefix).size());
    size_t used = 0;
    if (auto layer = leading_index(rest, used)) {
      key.scope = PeftKey::Scope::DecoderLayer;
      key.layer = *layer;
      key.module = rest.substr(used);
    }
    break;
  }
  return key;
}

std::optional<LoraTarget> target_from_hf_module(const std::string& module) {
  for (const auto& n : kNames)
    if (module == n.hf && !is_expert_target(n.target)) return n.target;
  return std::nullopt;
}

std::optional<GgufBaseName> parse_gguf_base_name(const std::string& base) {
  if (!starts_with(base, "blk.")) return std::nullopt;
  const std::string rest = base.substr(4);
  size_t used = 0;
  auto layer = leading_index(rest, used);
  const std::string tail = layer ? rest.substr(used) : "";
  if (!layer || tail.size() <= 7 || tail.compare(tail.size() - 7, 7, ".weight") != 0) return std::nullopt;
  return GgufBaseName{*layer, tail.substr(0, tail.size() - 7)};
}

std::optional<LoraTarget> target_from_gguf_module(const std::string& module) {
  for (const auto& n : kNames)
    if (module == n.gguf && !is_expert_target(n.target)) return n.target;
  return std::nullopt;
}

}  // namespace facet::train
