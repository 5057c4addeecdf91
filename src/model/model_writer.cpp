#include "model/model_writer.h"

#include <algorithm>
#include <set>

#include "formats/gguf.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

const char* kWriterSource = "model writer";

bool all_equal(const std::vector<int64_t>& v) {
  return std::all_of(v.begin(), v.end(), [&](int64_t x) { return x == v.front(); });
}

// A per-layer value as llama.cpp stores it: a scalar when every layer agrees, else an
// INT32 array (what the Gemma 4 converter writes for feed_forward_length/head_count_kv).
GgufValue per_layer_value(const std::vector<int64_t>& values) {
  if (all_equal(values)) return GgufValue::of_u32(static_cast<uint32_t>(values.front()));
  return GgufValue::of_array(GgufType::I32, values);
}

// The one value a property takes over a set of layers; fails when they disagree because
// the HF config has a single key for it.
int single_value(const std::set<int>& values, int fallback, const char* what) {
  require(values.size() <= 1, kWriterSource, ": an HF config cannot express layers with different ", what);
  return values.empty() ? fallback : *values.begin();
}

// "factor" in rope_parameters scales every rotated pair alike; anything else has no HF key.
double uniform_rope_factor(const RopeConfig& rope, const char* kind) {
  std::set<double> factors(rope.freq_factors.begin(), rope.freq_factors.end());
  require(factors.size() <= 1, kWriterSource, ": an HF config cannot express per-pair RoPE factors (",
          kind, " layers)");
  return factors.empty() ? 1.0 : *factors.begin();
}

json rope_parameters(const RopeConfig& rope, const char* kind, const char* rope_type) {
  json p = {{"rope_type", rope_type}, {"rope_theta", rope.theta}};
  // R = floor(f·D/2) is recovered exactly from f = 2R/D.
  p["partial_rotary_factor"] = 2.0 * rope.rotated_pairs / rope.head_dim;
  const double factor = uniform_rope_factor(rope, kind);
  if (factor != 1.0) p["factor"] = factor;
  return p;
}

}  // namespace

uint32_t gguf_file_type(DType weight_dtype) {
  switch (weight_dtype) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::BF16: return 32;  // LLAMA_FTYPE_MOSTLY_BF16
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::Q4_K: return 15;  // LLAMA_FTYPE_MOSTLY_Q4_K_M, the usual Q4_K mix
    case DType::Q6_K: return 18;
    default: fail(kWriterSource, ": no GGUF file type for weights of type ", dtype_name(weight_dtype));
  }
}

std::vector<float> rope_freqs_values(const ModelConfig& c) {
  const RopeConfig& r = c.rope_full;
  std::vector<float> values(static_cast<size_t>(r.head_dim / 2), 1e30f);
  for (int i = 0; i < r.rotated_pairs; ++i) values[static_cast<size_t>(i)] = static_cast<float>(r.freq_factors[static_cast<size_t>(i)]);
  return values;
}

void write_gguf_metadata(GgufWriter& w, const ModelConfig& c, DType weight_dtype) {
  c.validate(kWriterSource);
  // GGUF has no frequency factors or partial rotation for sliding layers.
  const RopeConfig& swa = c.rope_sliding;
  require(swa.rotated_pairs * 2 == swa.head_dim &&
              std::all_of(swa.freq_factors.begin(), swa.freq_factors.end(), [](double f) { return f == 1.0; }),
          kWriterSource, ": GGUF cannot express partial or scaled RoPE on sliding layers");

  auto u32 = [](int64_t v) { return GgufValue::of_u32(static_cast<uint32_t>(v)); };
  auto f32 = [](double v) { return GgufValue::of_f32(static_cast<float>(v)); };
  auto key = [](const char* k) { return std::string("gemma4.") + k; };

  w.set("general.architecture", GgufValue::of_string("gemma4"));
  w.set("general.name", GgufValue::of_string(c.name.empty() ? "gemma4-random" : c.name));
  w.set("general.file_type", u32(gguf_file_type(weight_dtype)));
  w.set("general.quantization_version", u32(2));

  std::vector<int64_t> ffn, kv_heads, sliding;
  for (const LayerConfig& l : c.layers) {
    ffn.push_back(l.ffn_width);
    kv_heads.push_back(l.n_kv_heads);
    sliding.push_back(l.kind == LayerKind::Sliding ? 1 : 0);
  }
  w.set(key("block_count"), u32(c.n_layers));
  w.set(key("context_length"), u32(c.max_context));
  w.set(key("embedding_length"), u32(c.hidden_size));
  w.set(key("feed_forward_length"), per_layer_value(ffn));
  w.set(key("attention.head_count"), u32(c.n_heads));
  w.set(key("attention.head_count_kv"), per_layer_value(kv_heads));
  w.set(key("attention.layer_norm_rms_epsilon"), f32(c.rms_eps));
  w.set(key("attention.key_length"), u32(c.rope_full.head_dim));
  w.set(key("attention.value_length"), u32(c.rope_full.head_dim));
  w.set(key("attention.key_length_swa"), u32(c.rope_sliding.head_dim));
  w.set(key("attention.value_length_swa"), u32(c.rope_sliding.head_dim));
  w.set(key("rope.freq_base"), f32(c.rope_full.theta));
  w.set(key("rope.freq_base_swa"), f32(c.rope_sliding.theta));
  // llama.cpp rotates over the whole head (n_rot = D) and leaves pairs unrotated via rope_freqs.
  w.set(key("rope.dimension_count"), u32(c.rope_full.head_dim));
  w.set(key("rope.dimension_count_swa"), u32(c.rope_sliding.head_dim));
  w.set(key("attention.sliding_window"), u32(c.sliding_window));
  w.set(key("attention.sliding_window_pattern"), GgufValue::of_array(GgufType::BOOL, sliding));
  w.set(key("attention.shared_kv_layers"), u32(c.n_kv_shared_layers));
  w.set(key("embedding_length_per_layer_input"), u32(c.ple_dim));
  w.set(key("final_logit_softcapping"), f32(c.final_logit_softcap));
  if (c.has_moe()) {
    w.set(key("expert_count"), u32(c.n_experts));
    w.set(key("expert_used_count"), u32(c.n_experts_used));
    w.set(key("expert_feed_forward_length"), u32(c.expert_ffn_width));
  }
}

json hf_config_json(const ModelConfig& c) {
  c.validate(kWriterSource);
  // Per-kind settings come from the KV-owning layers (sharers copy their source's).
  std::set<int> kv_sliding, kv_full, k_eq_v_full, k_eq_v_sliding, ffn_owning, ffn_shared;
  json layer_types = json::array();
  for (int i = 0; i < c.n_layers; ++i) {
    const LayerConfig& l = c.layers[static_cast<size_t>(i)];
    const bool sliding = l.kind == LayerKind::Sliding;
    layer_types.push_back(sliding ? "sliding_attention" : "full_attention");
    if (l.owns_kv) {
      (sliding ? kv_sliding : kv_full).insert(l.n_kv_heads);
      (sliding ? k_eq_v_sliding : k_eq_v_full).insert(l.k_eq_v ? 1 : 0);
    }
    (i < c.first_shared_layer() ? ffn_owning : ffn_shared).insert(l.ffn_width);
  }
  require(!k_eq_v_sliding.count(1), kWriterSource, ": an HF config has K=V only on full layers");
  const bool k_eq_v = single_value(k_eq_v_full, 0, "K=V settings") == 1;
  const int kv_full_heads = single_value(kv_full, 0, "full-layer KV head counts");
  const int kv_sliding_heads = single_value(kv_sliding, kv_full_heads, "sliding-layer KV head counts");
  require(k_eq_v || kv_full.empty() || kv_full_heads == kv_sliding_heads, kWriterSource,
          ": an HF config gives full layers their own KV head count only with attention_k_eq_v");
  const int ffn = single_value(ffn_owning, 0, "feed-forward widths on KV-owning layers");
  const int ffn_shared_width = single_value(ffn_shared, ffn, "feed-forward widths on KV-shared layers");
  const bool double_wide = ffn_shared_width != ffn && !ffn_owning.empty();
  require(ffn_owning.empty() ? !ffn_shared.empty() : (!double_wide || ffn_shared_width == 2 * ffn), kWriterSource,
          ": KV-shared layers must have the same or twice the feed-forward width of the others");
  require(!ffn_owning.empty(), kWriterSource, ": an HF config needs at least one KV-owning layer");

  json t = {
      {"architectures", json::array({"Gemma4ForCausalLM"})},
      {"model_type", "gemma4_text"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", ffn},
      {"use_double_wide_mlp", double_wide},
      {"num_hidden_layers", c.n_layers},
      {"layer_types", layer_types},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", kv_sliding_heads},
      {"num_global_key_value_heads", k_eq_v ? json(kv_full_heads) : json(nullptr)},
      {"attention_k_eq_v", k_eq_v},
      {"head_dim", c.rope_sliding.head_dim},
      {"global_head_dim", c.rope_full.head_dim},
      {"num_kv_shared_layers", c.n_kv_shared_layers},
      {"sliding_window", c.sliding_window},
      {"use_bidirectional_attention", c.bidirectional_images ? json("vision") : json(nullptr)},
      {"rope_parameters",
       {{"sliding_attention", rope_parameters(c.rope_sliding, "sliding", "default")},
        {"full_attention", rope_parameters(c.rope_full, "full", "proportional")}}},
      {"hidden_size_per_layer_input", c.ple_dim},
      {"vocab_size_per_layer_input", c.has_ple() ? c.ple_vocab : c.vocab_size},
      {"enable_moe_block", c.has_moe()},
      {"final_logit_softcapping", c.final_logit_softcap},
      {"rms_norm_eps", c.rms_eps},
      {"hidden_activation", "gelu_pytorch_tanh"},
      {"max_position_embeddings", c.max_context},
      {"tie_word_embeddings", true},
      {"attention_bias", false},
      {"pad_token_id", c.pad_id},
      {"eos_token_id", c.eos_id},
      {"bos_token_id", c.bos_id},
  };
  if (c.has_moe()) {
    t["num_experts"] = c.n_experts;
    t["top_k_experts"] = c.n_experts_used;
    t["moe_intermediate_size"] = c.expert_ffn_width;
  }
  return t;
}

json hf_multimodal_config_json(const ModelConfig& c) {
  json text = hf_config_json(c);
  text.erase("architectures");
  return {{"architectures", json::array({"Gemma4ForConditionalGeneration"})},
          {"model_type", "gemma4"},
          {"text_config", text},
          {"vision_config", nullptr},
          {"audio_config", nullptr},
          {"tie_word_embeddings", true}};
}

}  // namespace facet
