#include "model/weights.h"

#include "model/tensor_manifest.h"
#include "tensor/convert.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace facet {
namespace {

class Binder {
 public:
  Binder(const ModelConfig& c, const WeightSource& s, const std::string& where)
      : source_(s), where_(where) {
    for (TensorSpec& spec : tensor_manifest(c)) specs_.push_back(std::move(spec));
  }

  const TensorSpec* spec(const std::string& name) const {
    for (const auto& s : specs_)
      if (s.gguf_name == name) return &s;
    return nullptr;
  }

  // The tensor, checked against the manifest shape and for a usable dtype.
  const TensorView& tensor(const std::string& name) const {
    const TensorSpec* s = spec(name);
    require(s != nullptr, "internal: ", name, " is not in the tensor manifest");
    return checked(name, s->shape);
  }
  const TensorView& checked(const std::string& name, const std::vector<int64_t>& shape) const {
    const TensorView* t = source_.find(name);
    const std::string shown = source_.source_name(name);
    require(t != nullptr, where_, ": tensor ", shown, " is missing");
    require(t->shape == shape, where_, ": tensor ", shown, " has shape ", shape_string(t->shape),
            ", expected ", shape_string(shape));
    require(dtype_info(t->dtype).computable, where_, ": tensor ", shown, " has type ",
            dtype_name(t->dtype), ", which facet cannot compute with yet (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, NF4)");
    return *t;
  }
  bool has(const std::string& name) const { return source_.find(name) != nullptr; }

  WeightMatrix matrix(const std::string& name) const { return as_matrix(tensor(name)); }

  std::vector<float> vector(const std::string& name) const {
    const TensorView& t = tensor(name);
    std::vector<float> out(static_cast<size_t>(t.numel()));
    row_to_f32(t.dtype, t.data, out.data(), t.numel());
    return out;
  }

 private:
  const WeightSource& source_;
  std::string where_;
  std::vector<TensorSpec> specs_;
};

}  // namespace

ModelWeights bind_weights(const ModelConfig& c, const WeightSource& source, const std::string& where) {
  Binder b(c, source, where);
  ModelWeights w;
  w.token_embd = b.tensor("token_embd.weight");
  w.output_norm = b.vector("output_norm.weight");
  if (b.has("output.weight"))
    fail(where, ": tensor output.weight found, but Gemma 4 ties the output head to token_embd");
  if (c.has_ple()) {
    w.ple_token_embd = b.tensor("per_layer_token_embd.weight");
    // Read one row per token: keep it on small pages, or each row would bring in 2 MiB.
    advise_sparse_reads(w.ple_token_embd.data, w.ple_token_embd.byte_size());
    w.ple_model_proj = b.matrix("per_layer_model_proj.weight");
    w.ple_proj_norm = b.vector("per_layer_proj_norm.weight");
  }
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    const LayerConfig& lc = c.layers[static_cast<size_t>(i)];
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    l.attn_norm = b.vector(p + "attn_norm.weight");
    l.q = b.matrix(p + "attn_q.weight");
    l.q_norm = b.vector(p + "attn_q_norm.weight");
    if (lc.owns_kv) {
      l.k = b.matrix(p + "attn_k.weight");
      l.k_norm = b.vector(p + "attn_k_norm.weight");
      if (!lc.k_eq_v) l.v = b.matrix(p + "attn_v.weight");
    }
    l.o = b.matrix(p + "attn_output.weight");
    l.post_attn_norm = b.vector(p + "post_attention_norm.weight");
    l.ffn_norm = b.vector(p + "ffn_norm.weight");
    l.gate = b.matrix(p + "ffn_gate.weight");
    l.up = b.matrix(p + "ffn_up.weight");
    l.down = b.matrix(p + "ffn_down.weight");
    l.post_ffw_norm = b.vector(p + "post_ffw_norm.weight");
    l.layer_scalar = b.vector(p + "layer_output_scale.weight")[0];
    if (c.has_ple()) {
      l.ple_gate = b.matrix(p + "inp_gate.weight");
      l.ple_proj = b.matrix(p + "proj.weight");
      l.ple_post_norm = b.vector(p + "post_norm.weight");
    }
    if (c.has_moe()) {
      const int64_t E = c.n_experts, I = c.expert_ffn_width, H = c.hidden_size;
      l.router = b.matrix(p + "ffn_gate_inp.weight");
      l.router_scale = b.vector(p + "ffn_gate_inp.scale");
      l.expert_scale = b.vector(p + "ffn_down_exps.scale");
      l.post_ffw_norm_1 = b.vector(p + "post_ffw_norm_1.weight");
      l.pre_ffw_norm_2 = b.vector(p + "pre_ffw_norm_2.weight");
      l.post_ffw_norm_2 = b.vector(p + "post_ffw_norm_2.weight");
      l.expert_down = b.tensor(p + "ffn_down_exps.weight");
      // GGUF files carry either one fused gate_up tensor or separate gate and up tensors.
      if (b.has(p + "ffn_gate_up_exps.weight") || !b.has(p + "ffn_gate_exps.weight")) {
        l.expert_gate = b.tensor(p + "ffn_gate_up_exps.weight");
        l.experts_fused = true;
      } else {
        l.expert_gate = b.checked(p + "ffn_gate_exps.weight", {E, I, H});
        l.expert_up = b.checked(p + "ffn_up_exps.weight", {E, I, H});
      }
    }
  }
  return w;
}

}  // namespace facet

namespace facet {

ExpertMatrices expert_matrices(const ModelConfig& c, const LayerWeights& w, int e) {
  const int64_t I = c.expert_ffn_width;
  const auto idx = static_cast<size_t>(e);
  const LoraDelta* gate_up_lora = idx < w.expert_gate_up_lora.size() ? w.expert_gate_up_lora[idx] : nullptr;
  // expert_matrix slices the [E·rows, cols] view, which leaves lora_row_offset at e·rows;
  // each expert's chain has its own B, whose rows start at 0.
  auto own = [](WeightMatrix m, const LoraDelta* lora, int64_t row_offset) {
    m.lora = lora;
    m.lora_row_offset = row_offset;
    return m;
  };
  ExpertMatrices m;
  if (w.experts_fused) {
    const WeightMatrix gate_up = own(expert_matrix(w.expert_gate, e), gate_up_lora, 0);  // [2I, H]: gate rows first
    m.gate = gate_up.slice_rows(0, I);
    m.up = gate_up.slice_rows(I, I);
  } else {
    // Separate tensors: the adapter's B still spans [2I] rows, gate first.
    m.gate = own(expert_matrix(w.expert_gate, e), gate_up_lora, 0);
    m.up = own(expert_matrix(w.expert_up, e), gate_up_lora, I);
  }
  m.down = own(expert_matrix(w.expert_down, e), idx < w.expert_down_lora.size() ? w.expert_down_lora[idx] : nullptr, 0);
  return m;
}

}  // namespace facet
