// ModelConfig from a Hugging Face config.json (spec §2.1 keys).
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/model_config.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

// Typed access to a JSON object that names the key and the file in every error.
class JsonFields {
 public:
  JsonFields(const json& object, std::string source) : j_(object), source_(std::move(source)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  int get_int(const char* key) const {
    require(has(key), source_, ": key \"", key, "\" is missing");
    return as_int(j_[key], key);
  }
  int get_int_or(const char* key, int fallback) const { return has(key) ? get_int(key) : fallback; }
  double get_real_or(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    require(j_[key].is_number(), source_, ": key \"", key, "\" must be a number");
    return j_[key].get<double>();
  }
  bool get_bool_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    require(j_[key].is_boolean(), source_, ": key \"", key, "\" must be true or false");
    return j_[key].get<bool>();
  }
  // eos_token_id may be a list; the first entry is the primary id.
  int get_first_int_or(const char* key, int fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_[key];
    if (v.is_array()) return v.empty() ? fallback : as_int(v[0], key);
    return as_int(v, key);
  }
  int as_int(const json& v, const char* key) const {
    require(v.is_number_integer(), source_, ": key \"", key, "\" must be an integer");
    auto x = v.get<int64_t>();
    require(x >= 0 && x <= (1 << 30), source_, ": key \"", key, "\" = ", x, " is out of range");
    return static_cast<int>(x);
  }
  const json& raw() const { return j_; }
  const std::string& source() const { return source_; }

 private:
  const json& j_;
  std::string source_;
};

RopeConfig rope_for_kind(const JsonFields& tc, const char* kind_key, double default_theta,
                         double default_factor, int head_dim) {
  double theta = default_theta, factor = default_factor, scale = 1.0;
  if (tc.has("rope_parameters") && tc.raw()["rope_parameters"].is_object() &&
      tc.raw()["rope_parameters"].contains(kind_key)) {
    JsonFields p(tc.raw()["rope_parameters"][kind_key], tc.source() + " rope_parameters." + kind_key);
    theta = p.get_real_or("rope_theta", theta);
    factor = p.get_real_or("partial_rotary_factor", factor);
    scale = p.get_real_or("factor", 1.0);
    require(scale > 0, tc.source(), ": rope_parameters.", kind_key, ".factor must be positive");
  }
  RopeConfig r = make_rope(theta, head_dim, factor);
  for (double& f : r.freq_factors) f = scale;  // "factor" divides every inverse frequency
  return r;
}

}  // namespace

ModelConfig ModelConfig::from_hf_json(const json& config, const std::string& source) {
  require(config.is_object(), source, ": config.json must be a JSON object");
  const json* text = &config;
  if (config.contains("text_config") && config["text_config"].is_object()) text = &config["text_config"];
  JsonFields tc(*text, source);
  const std::string model_type =
      text->contains("model_type") && (*text)["model_type"].is_string() ? (*text)["model_type"].get<std::string>()
      : config.contains("model_type") && config["model_type"].is_string() ? config["model_type"].get<std::string>()
                                                                           : "";
  static const char* kAccepted[] = {"gemma4", "gemma4_text", "gemma4_unified", "gemma4_unified_text"};
  bool accepted = false;
  for (const char* t : kAccepted) accepted |= model_type == t;
  if (model_type == "gemma4_assistant")
    fail(source, ": this is a Gemma 4 draft (assistant) model; it cannot run on its own");
  require(accepted, source, ": unsupported model_type \"", model_type, "\"; facet runs Gemma 4 (gemma4, gemma4_text, gemma4_unified)");

  ModelConfig c;
  c.vocab_size = tc.get_int("vocab_size");
  c.hidden_size = tc.get_int("hidden_size");
  c.n_layers = tc.get_int("num_hidden_layers");
  require(c.n_layers > 0 && c.n_layers < 4096, source, ": num_hidden_layers = ", c.n_layers, " is invalid");
  c.n_heads = tc.get_int("num_attention_heads");
  c.sliding_window = tc.get_int("sliding_window");
  c.n_kv_shared_layers = tc.get_int_or("num_kv_shared_layers", 0);
  c.rms_eps = tc.get_real_or("rms_norm_eps", 1e-6);
  c.final_logit_softcap = tc.get_real_or("final_logit_softcapping", 30.0);
  c.max_context = tc.get_int_or("max_position_embeddings", 131072);
  if (tc.has("use_bidirectional_attention")) {
    const auto& mode = tc.raw()["use_bidirectional_attention"];
    require(mode.is_string() && mode.get<std::string>() == "vision", source,
            ": use_bidirectional_attention = ", mode.dump(),
            " is not supported (facet runs null and \"vision\", the values of the released models)");
    c.bidirectional_images = true;
  }
  c.ple_dim = tc.get_int_or("hidden_size_per_layer_input", 0);
  c.ple_vocab = c.ple_dim > 0 ? tc.get_int_or("vocab_size_per_layer_input", c.vocab_size) : 0;
  if (tc.get_bool_or("enable_moe_block", false)) {
    c.n_experts = tc.get_int("num_experts");
    c.n_experts_used = tc.get_int("top_k_experts");
    c.expert_ffn_width = tc.get_int("moe_intermediate_size");
  }
  c.bos_id = tc.get_first_int_or("bos_token_id", 2);
  c.eos_id = tc.get_first_int_or("eos_token_id", 1);
  c.pad_id = tc.get_first_int_or("pad_token_id", 0);

  const int d_swa = tc.get_int("head_dim");
  const int d_full = tc.get_int_or("global_head_dim", d_swa);
  c.rope_sliding = rope_for_kind(tc, "sliding_attention", tc.get_real_or("rope_local_base_freq", 10000.0), 1.0, d_swa);
  c.rope_full = rope_for_kind(tc, "full_attention", tc.get_real_or("rope_theta", 1000000.0), 0.25, d_full);

  const size_t L = static_cast<size_t>(c.n_layers);
  std::vector<LayerKind> kinds(L, LayerKind::Sliding);
  if (tc.has("layer_types")) {
    const json& types = (*text)["layer_types"];
    require(types.is_array() && types.size() == L, source, ": layer_types must list ", L, " entries");
    for (size_t i = 0; i < L; ++i) {
      require(types[i].is_string(), source, ": layer_types[", i, "] must be a string");
      const std::string t = types[i].get<std::string>();
      if (t == "full_attention") kinds[i] = LayerKind::Full;
      else require(t == "sliding_attention", source, ": layer_types[", i, "] = \"", t, "\" is unknown");
    }
  } else {
    // HF's default: every `sliding_window_pattern`-th layer is full, and the last one too.
    int pattern = tc.get_int_or("sliding_window_pattern", 6);
    require(pattern > 0, source, ": sliding_window_pattern must be positive");
    for (size_t i = 0; i < L; ++i) kinds[i] = (i + 1) % static_cast<size_t>(pattern) == 0 ? LayerKind::Full : LayerKind::Sliding;
    kinds[L - 1] = LayerKind::Full;
  }

  const bool k_eq_v = tc.get_bool_or("attention_k_eq_v", false);
  const int kv_sliding = tc.get_int("num_key_value_heads");
  const int kv_full = k_eq_v ? tc.get_int_or("num_global_key_value_heads", kv_sliding) : kv_sliding;
  const int ffn = tc.get_int("intermediate_size");
  const bool double_wide = tc.get_bool_or("use_double_wide_mlp", false);

  c.layers.resize(L);
  for (size_t i = 0; i < L; ++i) {
    LayerConfig& l = c.layers[i];
    l.kind = kinds[i];
    l.head_dim = l.kind == LayerKind::Sliding ? d_swa : d_full;
    l.n_kv_heads = l.kind == LayerKind::Sliding ? kv_sliding : kv_full;
    l.k_eq_v = l.kind == LayerKind::Full && k_eq_v;
    const bool shared = static_cast<int>(i) >= c.n_layers - c.n_kv_shared_layers;
    l.ffn_width = shared && double_wide ? 2 * ffn : ffn;
  }
  derive_kv_sharing(c, source);
  c.validate(source);
  return c;
}

ModelConfig ModelConfig::from_hf_file(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), path, ": cannot open");
  json config = json::parse(in, nullptr, /*allow_exceptions=*/false);
  require(!config.is_discarded(), path, ": not valid JSON");
  ModelConfig c = from_hf_json(config, path);
  return c;
}

}  // namespace facet
