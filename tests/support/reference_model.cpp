// Loading side of the float64 reference: hyper-parameters from GGUF metadata (spec §6.2)
// and every weight upcast exactly to double. The forward pass is reference_forward.cpp.
#include <cmath>
#include <string>
#include <vector>

#include "support/reference_forward.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace facet::test {
namespace {

const std::string kArch = "gemma4.";

// The overrides of the constructor running on this thread (see ReferenceOverrides).
thread_local const ReferenceOverrides* current_overrides = nullptr;

const GgufTensor* find_tensor(const GgufFile& file, const std::string& name) {
  return file.tensor(name);
}

// Flattens any tensor to doubles (F32/F16/BF16 → f32 is exact, f32 → double is exact).
std::vector<double> tensor_values(const GgufTensor& t) {
  const TensorView& v = t.view;
  if (current_overrides) {
    auto it = current_overrides->find(t.name);
    if (it != current_overrides->end()) {
      require(static_cast<int64_t>(it->second->size()) == v.numel(), "reference: override of ", t.name, " has ",
              it->second->size(), " values, expected ", v.numel());
      return std::vector<double>(it->second->begin(), it->second->end());
    }
  }
  std::vector<double> out(static_cast<size_t>(v.numel()));
  std::vector<float> row(static_cast<size_t>(v.row_length()));
  for (int64_t r = 0; r < v.row_count(); ++r) {
    row_to_f32(v.dtype, v.row(r), row.data(), v.row_length());
    for (int64_t c = 0; c < v.row_length(); ++c)
      out[static_cast<size_t>(r * v.row_length() + c)] = row[static_cast<size_t>(c)];
  }
  return out;
}

std::vector<double> load_vector(const GgufFile& file, const std::string& name, int64_t length) {
  const GgufTensor* t = find_tensor(file, name);
  require(t != nullptr, file.path(), ": reference: missing tensor ", name);
  require(t->view.numel() == length, file.path(), ": reference: tensor ", name, " has ",
          t->view.numel(), " elements, expected ", length);
  return tensor_values(*t);
}

// A 2-D weight [rows, cols] (row-major = GGUF ne reversed); empty if absent and optional.
RefMatrix load_matrix(const GgufFile& file, const std::string& name, int64_t rows,
                      int64_t cols, bool optional = false) {
  const GgufTensor* t = find_tensor(file, name);
  if (t == nullptr) {
    require(optional, file.path(), ": reference: missing tensor ", name);
    return {};
  }
  require(t->view.rank() == 2 && t->view.dim(0) == rows && t->view.dim(1) == cols,
          file.path(), ": reference: tensor ", name, " has shape ", shape_string(t->view.shape),
          ", expected [", rows, ", ", cols, "]");
  return RefMatrix{rows, cols, tensor_values(*t)};
}

// A 3-D expert tensor [E, rows, cols] cut into E matrices.
std::vector<RefMatrix> load_experts(const GgufFile& file, const std::string& name, int64_t n,
                                    int64_t rows, int64_t cols) {
  const GgufTensor* t = find_tensor(file, name);
  require(t != nullptr, file.path(), ": reference: missing tensor ", name);
  require(t->view.rank() == 3 && t->view.dim(0) == n && t->view.dim(1) == rows &&
              t->view.dim(2) == cols,
          file.path(), ": reference: tensor ", name, " has shape ", shape_string(t->view.shape),
          ", expected [", n, ", ", rows, ", ", cols, "]");
  std::vector<double> all = tensor_values(*t);
  std::vector<RefMatrix> out;
  for (int64_t e = 0; e < n; ++e) {
    auto begin = all.begin() + e * rows * cols;
    out.push_back(RefMatrix{rows, cols, std::vector<double>(begin, begin + rows * cols)});
  }
  return out;
}

// Rows [first, first + count) of a matrix (the gate / up halves of a fused gate_up, §4.7).
RefMatrix row_slice(const RefMatrix& m, int64_t first, int64_t count) {
  auto begin = m.data.begin() + first * m.cols;
  return RefMatrix{count, m.cols, std::vector<double>(begin, begin + count * m.cols)};
}

ReferenceConfig read_config(const GgufFile& file) {
  ReferenceConfig c;
  const std::string arch = file.get_string_or("general.architecture", "");
  require(arch == "gemma4", file.path(), ": reference: architecture '", arch, "' is not gemma4");
  c.n_layers = file.get_int(kArch + "block_count");
  const size_t L = static_cast<size_t>(c.n_layers);
  c.hidden = file.get_int(kArch + "embedding_length");
  c.rms_eps = file.get_real_or(kArch + "attention.layer_norm_rms_epsilon", 1e-6);
  c.final_logit_softcap = file.get_real_or(kArch + "final_logit_softcapping", 0.0);
  c.sliding_window = file.get_int(kArch + "attention.sliding_window");
  c.head_dim_full = file.get_int(kArch + "attention.key_length");
  c.head_dim_sliding = file.get_int_or(kArch + "attention.key_length_swa", c.head_dim_full);
  c.rope_base_full = file.get_real_or(kArch + "rope.freq_base", 1000000.0);
  c.rope_base_sliding = file.get_real_or(kArch + "rope.freq_base_swa", 10000.0);
  c.n_heads = file.get_int_array(kArch + "attention.head_count", L);
  c.n_kv_heads = file.get_int_array(kArch + "attention.head_count_kv", L);
  c.ffn_width = file.get_int_array(kArch + "feed_forward_length", L);
  c.ple_dim = file.get_int_or(kArch + "embedding_length_per_layer_input", 0);
  c.n_experts = file.get_int_or(kArch + "expert_count", 0);
  c.n_experts_used = file.get_int_or(kArch + "expert_used_count", 0);
  c.expert_width = file.get_int_or(kArch + "expert_feed_forward_length", 0);

  const GgufValue* pattern = file.find(kArch + "attention.sliding_window_pattern");
  require(pattern != nullptr && pattern->is_array() && pattern->integers.size() == L,
          file.path(), ": reference: needs a per-layer bool sliding_window_pattern");
  for (int64_t sliding : pattern->integers) c.is_sliding.push_back(sliding != 0);

  // §5: layers ℓ ≥ F use the K/V of the last layer before F of the same kind.
  c.first_shared_layer = c.n_layers - file.get_int_or(kArch + "attention.shared_kv_layers", 0);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    int64_t source = l;
    if (l >= c.first_shared_layer) {
      source = -1;
      for (int64_t s = 0; s < c.first_shared_layer; ++s)
        if (c.is_sliding[static_cast<size_t>(s)] == c.is_sliding[static_cast<size_t>(l)]) source = s;
      require(source >= 0, file.path(), ": reference: shared layer ", l, " has no KV source");
    }
    c.kv_source.push_back(source);
  }

  const GgufTensor* embd = find_tensor(file, "token_embd.weight");
  require(embd != nullptr && embd->view.rank() == 2, file.path(),
          ": reference: missing or malformed token_embd.weight");
  c.embedding_scale = std::sqrt(double(c.hidden));
  if (embd->view.dtype == DType::BF16) {
    // Round to 8 significant bits, ties to even (bf16 has a 7-bit stored mantissa).
    const int e = std::ilogb(c.embedding_scale);
    c.embedding_scale = std::ldexp(std::nearbyint(std::ldexp(c.embedding_scale, 7 - e)), e - 7);
  }
  c.vocab = embd->view.dim(0);

  // §4.5.1 sliding layers: default RoPE, inv_freq[i] = θ^(−2i/D), all pairs rotated.
  const int64_t Ds = c.head_dim_sliding;
  for (int64_t i = 0; i < Ds / 2; ++i)
    c.inv_freq_sliding.push_back(std::pow(c.rope_base_sliding, -2.0 * double(i) / double(Ds)));
  // Full layers: proportional RoPE; the exponent uses the FULL head size D and only the
  // first R = floor(0.25·D/2) pairs rotate (pairs i, i + D/2). GGUF spells the rotated pairs
  // in rope_freqs (1.0 = rotated, 1e30 = pass-through); without it use factor 0.25.
  const int64_t Df = c.head_dim_full;
  std::vector<double> freq_factor(static_cast<size_t>(Df / 2), 1e30);
  if (find_tensor(file, "rope_freqs.weight") != nullptr) {
    freq_factor = load_vector(file, "rope_freqs.weight", Df / 2);
  } else {
    const int64_t rotated_pairs = static_cast<int64_t>(std::floor(0.25 * double(Df) / 2.0));
    for (int64_t i = 0; i < rotated_pairs; ++i) freq_factor[static_cast<size_t>(i)] = 1.0;
  }
  for (int64_t i = 0; i < Df / 2; ++i) {
    const double factor = freq_factor[static_cast<size_t>(i)];
    const double base = std::pow(c.rope_base_full, -2.0 * double(i) / double(Df));
    c.inv_freq_full.push_back(factor >= 1e20 ? 0.0 : base / factor);  // 1e30 = not rotated
  }
  return c;
}

}  // namespace

std::vector<double> RefMatrix::times(const std::vector<double>& x) const {
  require(static_cast<int64_t>(x.size()) == cols, "reference: matrix/vector size mismatch");
  std::vector<double> y(static_cast<size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const double* w = row(r);
    double sum = 0;
    for (int64_t c = 0; c < cols; ++c) sum += w[c] * x[static_cast<size_t>(c)];
    y[static_cast<size_t>(r)] = sum;
  }
  return y;
}

ReferenceModel::ReferenceModel(const GgufFile& file, const ReferenceOverrides& overrides)
    : config_(read_config(file)) {
  struct Scope {  // the overrides apply while this constructor loads tensors
    explicit Scope(const ReferenceOverrides* o) { current_overrides = o; }
    ~Scope() { current_overrides = nullptr; }
  } scope(overrides.empty() ? nullptr : &overrides);
  const ReferenceConfig& c = config_;
  const int64_t H = c.hidden, L = c.n_layers, P = c.ple_dim;
  token_embd_ = load_matrix(file, "token_embd.weight", c.vocab, H);
  output_ = load_matrix(file, "output.weight", c.vocab, H, /*optional=*/true);
  output_norm_ = load_vector(file, "output_norm.weight", H);
  if (P > 0) {  // §4.2 per-layer embeddings
    const GgufTensor* table = find_tensor(file, "per_layer_token_embd.weight");
    require(table != nullptr, file.path(), ": reference: missing per_layer_token_embd.weight");
    const int64_t Vpl = table->view.dim(0);
    per_layer_token_embd_ = load_matrix(file, "per_layer_token_embd.weight", Vpl, L * P);
    per_layer_model_proj_ = load_matrix(file, "per_layer_model_proj.weight", L * P, H);
    per_layer_proj_norm_ = load_vector(file, "per_layer_proj_norm.weight", P);
  }
  for (int64_t l = 0; l < L; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const size_t li = static_cast<size_t>(l);
    const int64_t D = c.head_dim(l), Nq = c.n_heads[li], Nkv = c.n_kv_heads[li];
    const int64_t I = c.ffn_width[li];
    ReferenceLayer y;
    y.attn_norm = load_vector(file, b + "attn_norm.weight", H);
    y.attn_q = load_matrix(file, b + "attn_q.weight", Nq * D, H);
    y.q_norm = load_vector(file, b + "attn_q_norm.weight", D);
    if (c.kv_source[li] == l) {  // owns KV; shared layers' k/v weights are dead (§11.7)
      y.attn_k = load_matrix(file, b + "attn_k.weight", Nkv * D, H);
      y.k_norm = load_vector(file, b + "attn_k_norm.weight", D);
      y.attn_v = load_matrix(file, b + "attn_v.weight", Nkv * D, H, /*optional=*/true);  // K=V
    }
    y.attn_output = load_matrix(file, b + "attn_output.weight", H, Nq * D);
    y.post_attention_norm = load_vector(file, b + "post_attention_norm.weight", H);
    y.ffn_norm = load_vector(file, b + "ffn_norm.weight", H);
    y.ffn_gate = load_matrix(file, b + "ffn_gate.weight", I, H);
    y.ffn_up = load_matrix(file, b + "ffn_up.weight", I, H);
    y.ffn_down = load_matrix(file, b + "ffn_down.weight", H, I);
    y.post_ffw_norm = load_vector(file, b + "post_ffw_norm.weight", H);
    y.layer_output_scale = load_vector(file, b + "layer_output_scale.weight", 1)[0];
    if (P > 0) {
      y.inp_gate = load_matrix(file, b + "inp_gate.weight", P, H);
      y.proj = load_matrix(file, b + "proj.weight", H, P);
      y.post_norm = load_vector(file, b + "post_norm.weight", H);
    }
    if (c.n_experts > 0) {  // §4.7
      const int64_t E = c.n_experts, Ie = c.expert_width;
      y.router = load_matrix(file, b + "ffn_gate_inp.weight", E, H);
      y.router_scale = load_vector(file, b + "ffn_gate_inp.scale", H);
      y.per_expert_scale = load_vector(file, b + "ffn_down_exps.scale", E);
      if (file.tensor(b + "ffn_gate_up_exps.weight")) {  // fused: gate rows first, then up
        for (const RefMatrix& gu : load_experts(file, b + "ffn_gate_up_exps.weight", E, 2 * Ie, H)) {
          y.expert_gate.push_back(row_slice(gu, 0, Ie));
          y.expert_up.push_back(row_slice(gu, Ie, Ie));
        }
      } else {
        y.expert_gate = load_experts(file, b + "ffn_gate_exps.weight", E, Ie, H);
        y.expert_up = load_experts(file, b + "ffn_up_exps.weight", E, Ie, H);
      }
      y.expert_down = load_experts(file, b + "ffn_down_exps.weight", E, H, Ie);
      y.pre_ffw_norm_2 = load_vector(file, b + "pre_ffw_norm_2.weight", H);
      y.post_ffw_norm_1 = load_vector(file, b + "post_ffw_norm_1.weight", H);
      y.post_ffw_norm_2 = load_vector(file, b + "post_ffw_norm_2.weight", H);
    }
    layers_.push_back(std::move(y));
  }
}

std::vector<std::vector<double>> reference_logits(const GgufFile& file,
                                                  const std::vector<int32_t>& tokens) {
  return ReferenceModel(file).forward(tokens);
}

}  // namespace facet::test
