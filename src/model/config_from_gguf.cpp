// ModelConfig from the metadata (gemma4.* keys, spec §6.2) and tensor list of a GGUF file.
#include <algorithm>
#include <cstring>
#include <vector>

#include "formats/gguf.h"
#include "model/model_config.h"
#include "util/error.h"

namespace facet {
namespace {

int to_int(int64_t v, const std::string& path, const char* key) {
  require(v >= 0 && v <= (1 << 30), path, ": metadata key ", key, " = ", v, " is out of range");
  return static_cast<int>(v);
}

}  // namespace

// llama.cpp encodes proportional RoPE as a factor per frequency pair: 1.0 for rotated
// pairs, 1e30 (angle ~ 0) for the rest. We read the prefix of "real" factors.
RopeConfig rope_from_freqs_tensor(const GgufFile& f, double theta, int head_dim) {
  const GgufTensor* t = f.tensor("rope_freqs.weight");
  if (t == nullptr) return make_rope(theta, head_dim, 0.25);  // Gemma 4 default factor
  require(t->view.dtype == DType::F32 && t->view.rank() == 1 && t->view.dim(0) == head_dim / 2,
          f.path(), ": tensor rope_freqs.weight must be F32 [", head_dim / 2, "], found ",
          dtype_name(t->view.dtype), " ", shape_string(t->view.shape));
  // Copied out: with a small general.alignment (any power of two is valid GGUF) the tensor
  // data need not be 4-byte aligned, so it cannot be read through a float pointer.
  std::vector<float> factors(static_cast<size_t>(head_dim / 2));
  std::memcpy(factors.data(), t->view.data, factors.size() * sizeof(float));
  RopeConfig r;
  r.theta = theta;
  r.head_dim = head_dim;
  const float kNotRotated = 1e20f;
  int n = head_dim / 2;
  while (r.rotated_pairs < n && factors[r.rotated_pairs] < kNotRotated) {
    require(factors[r.rotated_pairs] > 0, f.path(), ": rope_freqs.weight has a non-positive factor");
    r.freq_factors.push_back(factors[r.rotated_pairs]);
    ++r.rotated_pairs;
  }
  for (int i = r.rotated_pairs; i < n; ++i)
    require(factors[i] >= kNotRotated, f.path(),
            ": rope_freqs.weight: rotated pairs must come first (entry ", i, ")");
  return r;
}

ModelConfig ModelConfig::from_gguf(const GgufFile& f) {
  const std::string& path = f.path();
  const std::string arch = f.get_string_or("general.architecture", "");
  if (arch == "gemma4-assistant")
    fail(path, ": this is a Gemma 4 draft (assistant) model; it cannot run on its own");
  require(arch == "gemma4", path, ": unsupported architecture \"", arch,
          "\" (general.architecture); facet runs gemma4 models");
  auto key = [](const char* k) { return std::string("gemma4.") + k; };

  ModelConfig c;
  c.name = f.get_string_or("general.name", "");
  c.n_layers = to_int(f.get_int(key("block_count")), path, "gemma4.block_count");
  require(c.n_layers > 0 && c.n_layers < 4096, path, ": gemma4.block_count = ", c.n_layers, " is invalid");
  const size_t L = static_cast<size_t>(c.n_layers);
  c.hidden_size = to_int(f.get_int(key("embedding_length")), path, "gemma4.embedding_length");
  auto heads = f.get_int_array(key("attention.head_count"), L);
  require(std::all_of(heads.begin(), heads.end(), [&](int64_t h) { return h == heads[0]; }), path,
          ": gemma4.attention.head_count must be the same on every layer");
  c.n_heads = to_int(heads[0], path, "gemma4.attention.head_count");
  c.sliding_window = to_int(f.get_int(key("attention.sliding_window")), path, "gemma4.attention.sliding_window");
  c.n_kv_shared_layers = to_int(f.get_int_or(key("attention.shared_kv_layers"), 0), path,
                                "gemma4.attention.shared_kv_layers");
  c.rms_eps = f.get_real_or(key("attention.layer_norm_rms_epsilon"), 1e-6);
  c.final_logit_softcap = f.get_real_or(key("final_logit_softcapping"), 30.0);
  c.max_context = to_int(f.get_int_or(key("context_length"), 131072), path, "gemma4.context_length");
  c.ple_dim = to_int(f.get_int_or(key("embedding_length_per_layer_input"), 0), path,
                     "gemma4.embedding_length_per_layer_input");
  // GGUF has no key for HF's use_bidirectional_attention: every released model without
  // per-layer embeddings (12B, 26B, 31B) has "vision", E2B and E4B have none (spec §3 table).
  c.bidirectional_images = c.ple_dim == 0;
  c.n_experts = to_int(f.get_int_or(key("expert_count"), 0), path, "gemma4.expert_count");
  c.n_experts_used = to_int(f.get_int_or(key("expert_used_count"), 0), path, "gemma4.expert_used_count");
  c.expert_ffn_width = to_int(f.get_int_or(key("expert_feed_forward_length"), 0), path,
                              "gemma4.expert_feed_forward_length");
  c.bos_id = static_cast<int>(f.get_int_or("tokenizer.ggml.bos_token_id", 2));
  c.eos_id = static_cast<int>(f.get_int_or("tokenizer.ggml.eos_token_id", 1));
  c.pad_id = static_cast<int>(f.get_int_or("tokenizer.ggml.padding_token_id", 0));

  const GgufTensor* embd = f.tensor("token_embd.weight");
  require(embd != nullptr, path, ": tensor token_embd.weight is missing");
  require(embd->view.rank() == 2 && embd->view.dim(1) == c.hidden_size, path,
          ": tensor token_embd.weight has shape ", shape_string(embd->view.shape), ", expected [vocab, ",
          c.hidden_size, "]");
  c.vocab_size = static_cast<int>(std::min<int64_t>(embd->view.dim(0), 1 << 30));
  if (c.has_ple()) {
    const GgufTensor* ple = f.tensor("per_layer_token_embd.weight");
    require(ple != nullptr, path, ": tensor per_layer_token_embd.weight is missing (the model has per-layer embeddings)");
    c.ple_vocab = static_cast<int>(std::min<int64_t>(ple->view.dim(0), 1 << 30));
  }

  const int d_full = to_int(f.get_int(key("attention.key_length")), path, "gemma4.attention.key_length");
  const int d_swa = to_int(f.get_int(key("attention.key_length_swa")), path, "gemma4.attention.key_length_swa");
  require(f.get_int_or(key("attention.value_length"), d_full) == d_full &&
              f.get_int_or(key("attention.value_length_swa"), d_swa) == d_swa,
          path, ": value_length must equal key_length (Gemma 4 uses the same head size for K and V)");
  c.rope_sliding = make_rope(f.get_real_or(key("rope.freq_base_swa"), 10000.0), d_swa, 1.0);
  c.rope_full = rope_from_freqs_tensor(f, f.get_real_or(key("rope.freq_base"), 1000000.0), d_full);

  const GgufValue* pattern = f.find(key("attention.sliding_window_pattern"));
  require(pattern != nullptr && pattern->is_array() && pattern->integers.size() == L, path,
          ": gemma4.attention.sliding_window_pattern must be an array of ", L, " bools");
  auto kv_heads = f.get_int_array(key("attention.head_count_kv"), L);
  auto ffn = f.get_int_array(key("feed_forward_length"), L);

  c.layers.resize(L);
  for (size_t i = 0; i < L; ++i) {
    LayerConfig& l = c.layers[i];
    l.kind = pattern->integers[i] ? LayerKind::Sliding : LayerKind::Full;
    l.head_dim = l.kind == LayerKind::Sliding ? d_swa : d_full;
    l.n_kv_heads = to_int(kv_heads[i], path, "gemma4.attention.head_count_kv");
    l.ffn_width = to_int(ffn[i], path, "gemma4.feed_forward_length");
    // K=V layers carry no V projection (spec §6.2).
    const std::string blk = "blk." + std::to_string(i) + ".";
    l.k_eq_v = f.tensor(blk + "attn_k.weight") != nullptr && f.tensor(blk + "attn_v.weight") == nullptr;
  }
  derive_kv_sharing(c, path);
  c.validate(path);
  return c;
}

}  // namespace facet
