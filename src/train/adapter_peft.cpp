// PEFT adapter folders (finetune spec §2): adapter_config.json + adapter_model.safetensors.
#include <algorithm>
#include <cmath>
#include <map>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "formats/safetensors.h"
#include "formats/strict_json.h"
#include "train/adapter_io.h"
#include "train/adapter_io_internal.h"
#include "train/adapter_names.h"
#include "train/expert_lora.h"
#include "util/error.h"

namespace facet::train {
namespace {

using nlohmann::json;

// The adapter_config.json values facet uses.
struct PeftConfig {
  LoraConfig lora;
  std::vector<LoraTarget> expert_params;  // target_parameters, in the file's order
  std::vector<std::pair<std::string, int64_t>> rank_pattern;
  std::vector<std::pair<std::string, double>> alpha_pattern;
};

// PEFT's pattern rule: the first key k with re.match(r"(.*\.)?(k)$", module) wins.
template <typename T>
const T* pattern_value(const std::vector<std::pair<std::string, T>>& patterns, const std::string& module,
                       const std::string& where) {
  for (const auto& [pattern, value] : patterns) {
    try {
      if (std::regex_match(module, std::regex("(.*\\.)?(" + pattern + ")"))) return &value;
    } catch (const std::regex_error&) {
      fail(where, ": pattern '", pattern, "' is not a regular expression facet can read");
    }
  }
  return nullptr;
}

PeftConfig read_peft_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), path, ": cannot read (a PEFT adapter needs its adapter_config.json for r and lora_alpha)");
  std::stringstream text;
  text << in.rdbuf();
  const json j = parse_json_strict(text.str(), path);
  require(j.is_object(), path, ": expected a JSON object");
  auto get = [&](const char* key) -> const json* {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  auto flag = [&](const char* key) {
    const json* v = get(key);
    require(!v || v->is_boolean(), path, ": ", key, " must be true or false");
    return v && v->get<bool>();
  };
  if (const json* type = get("peft_type"))
    require(type->is_string() && type->get<std::string>() == "LORA", path, ": peft_type is ", type->dump(),
            "; facet reads LoRA adapters only (\"LORA\")");
  PeftConfig c;
  if (const json* r = get("r")) {
    require(r->is_number_integer() && r->get<int64_t>() > 0, path, ": r must be a positive integer");
    c.lora.rank = static_cast<int>(r->get<int64_t>());
  }
  if (const json* a = get("lora_alpha")) {
    require(a->is_number(), path, ": lora_alpha must be a number");
    c.lora.alpha = a->get<double>();
  }
  if (const json* d = get("lora_dropout")) {
    require(d->is_number(), path, ": lora_dropout must be a number");
    c.lora.dropout = d->get<double>();
  }
  c.lora.use_rslora = flag("use_rslora");
  require(!flag("use_dora"), path, ": DoRA adapters (use_dora) are not supported");
  require(!flag("lora_bias"), path, ": adapters with a lora_B bias (lora_bias) are not supported");
  require(!flag("fan_in_fan_out"), path, ": fan_in_fan_out adapters (GPT-2 Conv1D layout) are not supported");
  if (const json* b = get("bias"))
    require(b->is_string() && b->get<std::string>() == "none", path, ": bias ", b->dump(),
            " is not supported (only \"none\": facet's base layers have no biases)");
  if (const json* m = get("modules_to_save"))
    require(!m->is_array() || m->empty(), path, ": modules_to_save ", m->dump(),
            " is not supported (fully trained modules are not LoRA; merge them into the base model)");
  if (const json* p = get("target_parameters")) {
    require(p->is_array(), path, ": target_parameters must be a list");
    for (const json& name : *p) {
      require(name.is_string(), path, ": target_parameters must be a list of names");
      // PEFT matches a target parameter by the end of its full name.
      const std::string n = name.get<std::string>();
      std::optional<LoraTarget> t;
      for (LoraTarget e : {LoraTarget::ExpertGateUp, LoraTarget::ExpertDown}) {
        const std::string want = lora_target_name(e);
        if (n == want || n.ends_with("." + want)) t = e;
      }
      require(t.has_value(), path, ": target_parameters entry '", n, "' is not supported (facet adapts the MoE ",
              "experts' experts.gate_up_proj and experts.down_proj)");
      if (std::find(c.expert_params.begin(), c.expert_params.end(), *t) == c.expert_params.end())
        c.expert_params.push_back(*t);
    }
    require(c.expert_params.empty() || c.lora.dropout == 0, path,
            ": lora_dropout must be 0 with target_parameters (PEFT's ParamWrapper refuses dropout)");
  }
  if (const json* rp = get("rank_pattern")) {
    require(rp->is_object(), path, ": rank_pattern must be an object");
    for (const auto& [k, v] : rp->items()) {
      require(v.is_number_integer() && v.get<int64_t>() > 0, path, ": rank_pattern[", k, "] must be a positive integer");
      c.rank_pattern.push_back({k, v.get<int64_t>()});
    }
  }
  if (const json* ap = get("alpha_pattern")) {
    require(ap->is_object(), path, ": alpha_pattern must be an object");
    for (const auto& [k, v] : ap->items()) {
      require(v.is_number(), path, ": alpha_pattern[", k, "] must be a number");
      c.alpha_pattern.push_back({k, v.get<double>()});
    }
  }
  return c;
}

std::string module_key(const std::string& layers_prefix, int layer, LoraTarget t) {
  // layers_prefix starts with "base_model.model."; module keys leave that out.
  return layers_prefix.substr(17) + std::to_string(layer) + "." + hf_module_path(t);
}

// Where PEFT saves the factors of target_parameters on a layer's `experts` module.
// ParamWrapper replaces the module; a second targeted parameter of the same module wraps
// the first wrapper (PEFT PR #2665, "Targeting multiple parameters on the same module"), so
// the parameter listed FIRST in target_parameters ends up inner, under
// "experts.base_layer.lora_*", and the last one outer, under "experts.lora_*"; a lone
// target is "experts.lora_*". With Unsloth's ["experts.gate_up_proj", "experts.down_proj"]
// that puts gate_up at experts.base_layer.lora_* and down at experts.lora_*. Evidence:
// SGLang's PEFT ParamWrapper loader tests ("inner/outer slot -> first/last listed param",
// "user supplied order is honored"; sgl-project/sglang PR #25528,
// test/registered/unit/lora/test_peft_paramwrapper_moe_unit.py), NVIDIA NeMo Automodel's
// ParamWrapper converter ("down_proj is outer, gate_up_proj is inner") and a vLLM key-map
// test asserting gate_up_proj's wrapper is "experts.base_layer". No real Gemma 4 file was
// inspected, so the reader also checks every tensor's shape against the slot it lands in.
constexpr const char* kExpertsOuter = "experts";
constexpr const char* kExpertsInner = "experts.base_layer";

// The target a ParamWrapper slot holds, given the config's target_parameters order.
LoraTarget expert_target_of_slot(const std::string& slot, const std::vector<LoraTarget>& listed,
                                 const std::string& where, const std::string& tensor) {
  require(!listed.empty(), where, ": tensor ", tensor, " is a LoRA factor of the MoE experts, but ",
          "adapter_config.json has no target_parameters (experts.gate_up_proj / experts.down_proj)");
  if (slot == kExpertsOuter) return listed.back();
  require(listed.size() == 2, where, ": tensor ", tensor, " is under experts.base_layer, which PEFT uses only when ",
          "two parameters of the experts are targeted, but target_parameters names one");
  return listed.front();
}
}  // namespace

namespace detail {

LoraModel load_peft_adapter(const std::string& path, const Model& model, std::vector<std::string>* warnings) {
  namespace fs = std::filesystem;
  const bool is_dir = fs::is_directory(path);
  const std::string tensors_path = is_dir ? (fs::path(path) / "adapter_model.safetensors").string() : path;
  const std::string config_path = (fs::path(tensors_path).parent_path() / "adapter_config.json").string();
  const PeftConfig config = read_peft_config(config_path);
  auto file = SafetensorsFile::open(tensors_path);
  AdapterBuilder builder(model, tensors_path, warnings);
  // Module keys as the file spells them, for rank_pattern / alpha_pattern matching.
  std::map<std::pair<int, int>, std::string> module_keys;
  int towers = 0;
  for (const SafetensorsTensor& t : file->tensors()) {
    const auto key = parse_peft_key(t.name);
    if (!key) {
      if (t.name.ends_with(".base_layer.weight")) continue;  // a frozen base copy, not part of the adapter
      fail(tensors_path, ": tensor ", t.name, " is not a LoRA tensor (full weights from modules_to_save or ",
           "a whole model are not supported in an adapter)");
    }
    if (key->scope == PeftKey::Scope::Tower) {
      ++towers;
      continue;
    }
    require(key->kind == "lora_A.weight" || key->kind == "lora_B.weight", tensors_path, ": tensor ", t.name,
            " is not supported (", key->kind.starts_with("lora_embedding") ? "embedding LoRA"
            : key->kind.starts_with("lora_magnitude") ? "DoRA" : "lora_B bias", ")");
    if (key->scope == PeftKey::Scope::DecoderLayer && (key->module == kExpertsOuter || key->module == kExpertsInner)) {
      const LoraTarget target = expert_target_of_slot(key->module, config.expert_params, config_path, t.name);
      require(t.supported, tensors_path, ": tensor ", t.name, " has type ", t.dtype_name,
              " (LoRA factors must be F32, F16 or BF16)");
      // The slot -> parameter rule above is not confirmed on a real file: a factor whose
      // shape fits only the other parameter is refused rather than guessed.
      const ExpertShape want = expert_target_shape(model.config, target);
      const bool is_b = key->kind == "lora_B.weight";
      const int64_t dim = t.view.rank() == 2 ? t.view.dim(is_b ? 0 : 1) : -1;
      require(want.experts == 0 || dim == (is_b ? want.out : want.in), tensors_path, ": tensor ", t.name,
              " has shape ", shape_string(t.view.shape), ", which does not fit ", lora_target_name(target), " [",
              want.out, ", ", want.in, "] per expert; PEFT saves the first of target_parameters under ",
              "experts.base_layer.lora_* and the last under experts.lora_*, and this file does not follow that order");
      builder.add(key->layer, target, is_b, t.name, t.view, true);
      // rank_pattern / alpha_pattern keys name the module ("...layers.N.experts").
      std::string module = t.name.substr(0, t.name.size() - key->kind.size() - 1);
      if (module.ends_with(".base_layer")) module.resize(module.size() - 11);
      if (module.starts_with("base_model.model.")) module = module.substr(17);
      module_keys[{key->layer, static_cast<int>(target)}] = module;
      continue;
    }
    require(key->scope == PeftKey::Scope::DecoderLayer, tensors_path, ": tensor ", t.name,
            " adapts ", key->module, ", which facet does not adapt (supported: the decoder layers' q/k/v/o_proj, ",
            "gate/up/down_proj, per_layer_input_gate, per_layer_projection)");
    const auto target = target_from_hf_module(key->module);
    require(target.has_value(), tensors_path, ": tensor ", t.name, " adapts unknown module '", key->module,
            "' of layer ", key->layer, " (supported: self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, ",
            "per_layer_input_gate, per_layer_projection)");
    require(t.supported, tensors_path, ": tensor ", t.name, " has type ", t.dtype_name,
            " (LoRA factors must be F32, F16 or BF16)");
    builder.add(key->layer, *target, key->kind == "lora_B.weight", t.name, t.view, true);
    std::string module = t.name.substr(0, t.name.size() - key->kind.size() - 1);
    if (module.starts_with("base_model.model.")) module = module.substr(17);
    module_keys[{key->layer, static_cast<int>(*target)}] = module;
  }
  if (towers > 0)
    builder.warn(str_cat(tensors_path, ": ignoring ", towers,
                         " vision/audio tower tensors (facet runs the text decoder only)"));
  auto module_scale = [&](int layer, LoraTarget t, int64_t rank) {
    const std::string& key = module_keys.at({layer, static_cast<int>(t)});
    const int64_t* r = pattern_value(config.rank_pattern, key, config_path);
    const double* a = pattern_value(config.alpha_pattern, key, config_path);
    const int64_t want_rank = r ? *r : config.lora.rank;
    require(rank == want_rank, tensors_path, ": ", key, " has rank ", rank, ", but ", config_path, " says r = ",
            want_rank);
    const double alpha = a ? *a : config.lora.alpha;
    return config.lora.use_rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
  };
  return builder.build(config.lora, module_scale);
}

}  // namespace detail

void save_peft_adapter(const LoraModel& lora, const Model& model, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  require(!ec && fs::is_directory(dir), dir, ": cannot create the adapter folder");
  require(lora.layers.size() == model.weights.layers.size(), "the LoRA adapter has ", lora.layers.size(),
          " layers but the model has ", model.weights.layers.size());
  const std::string prefix = peft_layers_prefix(model);
  const LoraConfig& c = lora.config;
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  json rank_pattern = json::object(), alpha_pattern = json::object();
  std::vector<std::string> modules;
  std::vector<LoraTarget> expert_params;  // written in this order (see kExpertsInner)
  for (LoraTarget t : {LoraTarget::ExpertGateUp, LoraTarget::ExpertDown})
    for (const LoraLayer& layer : lora.layers)
      if (layer.get(t) && std::find(expert_params.begin(), expert_params.end(), t) == expert_params.end())
        expert_params.push_back(t);
  for (size_t l = 0; l < lora.layers.size(); ++l)
    for (int t = 0; t < kLoraTargetCount; ++t) {
      const LoraWeights* w = lora.layers[l].get(static_cast<LoraTarget>(t));
      if (!w) continue;
      if (w->experts > 0) {
        // rank_pattern cannot tell the two parameters of one experts module apart.
        require(w->rank == c.rank, "cannot save the ", lora_target_name(static_cast<LoraTarget>(t)), " adapter of layer ",
                l, " in the PEFT format: its rank ", w->rank, " differs from r = ", c.rank);
        const bool nested = expert_params.size() == 2 && static_cast<LoraTarget>(t) == expert_params.front();
        const std::string name = prefix + std::to_string(l) + "." + (nested ? kExpertsInner : kExpertsOuter);
        writer.add_tensor(name + ".lora_A.weight", DType::F32, {w->rank * w->experts, w->in}, w->a.data());
        writer.add_tensor(name + ".lora_B.weight", DType::F32, {w->out, w->rank * w->experts}, w->b.data());
        continue;
      }
      const std::string name = prefix + std::to_string(l) + "." + hf_module_path(static_cast<LoraTarget>(t));
      writer.add_tensor(name + ".lora_A.weight", DType::F32, {w->rank, w->in}, w->a.data());
      writer.add_tensor(name + ".lora_B.weight", DType::F32, {w->out, w->rank}, w->b.data());
      const std::string leaf = lora_target_name(static_cast<LoraTarget>(t));
      if (std::find(modules.begin(), modules.end(), leaf) == modules.end()) modules.push_back(leaf);
      if (w->rank != c.rank) {
        // This module's own rank; its alpha keeps the adapter's one scale for it.
        const std::string key = module_key(prefix, static_cast<int>(l), static_cast<LoraTarget>(t));
        rank_pattern[key] = w->rank;
        alpha_pattern[key] = c.scale() * (c.use_rslora ? std::sqrt(static_cast<double>(w->rank))
                                                       : static_cast<double>(w->rank));
      }
    }
  require(!modules.empty() || !expert_params.empty(), "the LoRA adapter has no modules to save");

  // On the multimodal layout a plain list of names would also match the vision tower's
  // q_proj etc. (which PEFT refuses, spec §1.5e); a regex limited to the language model
  // does not, as in PEFT's own Gemma 4 default.
  json target_modules;
  if (modules.empty()) {
    target_modules = json::array();  // experts only: PEFT's target_parameters-only form
  } else if (prefix.find("language_model") != std::string::npos) {
    std::string alternatives;
    for (const std::string& m : modules) alternatives += (alternatives.empty() ? "" : "|") + m;
    target_modules = ".*language_model\\..*\\.(" + alternatives + ")";
  } else {
    target_modules = modules;
  }
  json target_parameters = nullptr;
  if (!expert_params.empty()) {
    target_parameters = json::array();
    for (LoraTarget t : expert_params) target_parameters.push_back(lora_target_name(t));
  }
  json config = {
      {"alpha_pattern", alpha_pattern},
      {"auto_mapping", nullptr},
      {"base_model_name_or_path", model.path},
      {"bias", "none"},
      {"exclude_modules", nullptr},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"init_lora_weights", true},
      {"layer_replication", nullptr},
      {"layers_pattern", nullptr},
      {"layers_to_transform", nullptr},
      // PEFT users write integers ("lora_alpha": 16); keep that form when it is exact.
      {"lora_alpha", c.alpha == std::floor(c.alpha) && std::fabs(c.alpha) < 1e15 ? json(static_cast<int64_t>(c.alpha))
                                                                                : json(c.alpha)},
      {"lora_bias", false},
      {"lora_dropout", c.dropout},
      {"modules_to_save", nullptr},
      {"peft_type", "LORA"},
      {"r", c.rank},
      {"rank_pattern", rank_pattern},
      {"revision", nullptr},
      {"target_modules", target_modules},
      {"target_parameters", target_parameters},
      {"task_type", "CAUSAL_LM"},
      {"use_dora", false},
      {"use_rslora", c.use_rslora},
  };
  writer.write((fs::path(dir) / "adapter_model.safetensors").string());
  const std::string config_path = (fs::path(dir) / "adapter_config.json").string();
  const std::string tmp = config_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << config.dump(2) << "\n";
    require(out.good(), tmp, ": cannot write");
  }
  fs::rename(tmp, config_path, ec);
  require(!ec, config_path, ": cannot write: ", ec.message());
}

}  // namespace facet::train
