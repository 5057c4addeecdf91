// llama.cpp LoRA adapter GGUF files (finetune spec §3.1, §3.2).
#include <algorithm>
#include <cmath>

#include "formats/gguf.h"
#include "train/adapter_io.h"
#include "train/adapter_io_internal.h"
#include "train/adapter_names.h"
#include "train/expert_lora.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace facet::train {
namespace {

// facet's own copy of the PEFT settings; llama.cpp ignores keys it does not know.
constexpr const char* kPeftRank = "adapter.lora.peft.r";
constexpr const char* kPeftAlpha = "adapter.lora.peft.lora_alpha";
constexpr const char* kPeftRslora = "adapter.lora.peft.use_rslora";
constexpr const char* kPeftDropout = "adapter.lora.peft.lora_dropout";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Expert LoRA in llama.cpp's adapter GGUF (finetune spec §3.1-3.2): the factors of
// blk.N.ffn_gate_up_exps / ffn_down_exps are 3-D, one matrix per expert, because
// build_lora_mm_id multiplies them with ggml_mul_mat_id (whose weight is
// ne = [cols, rows, n_expert]): lora_a ne = [in, r, E] and lora_b ne = [r, out, E], i.e.
// row-major [E, r, in] and [E, out, r]; the loader checks ne[0] / ne[1] against the base
// tensor like any pair, and the scale is alpha / r with r = lora_b ne[0]. PEFT's A
// [r·E, in] is A viewed as [E, r, in], so lora_a has A's bytes; lora_b[e] is B_e, which
// PEFT interleaves as columns j·E + e of B [out, r·E].
std::vector<float> gguf_expert_b(const LoraWeights& w) {
  const int64_t E = w.experts, r = w.rank;
  std::vector<float> out(w.b.size());
  for (int64_t e = 0; e < E; ++e)
    for (int64_t o = 0; o < w.out; ++o)
      for (int64_t j = 0; j < r; ++j)
        out[static_cast<size_t>((e * w.out + o) * r + j)] = w.b[static_cast<size_t>(o * r * E + j * E + e)];
  return out;
}

// The inverse: a 3-D GGUF factor as PEFT's 2-D layout.
std::vector<float> peft_expert_factor(const TensorView& v, bool is_b, const std::string& where, const std::string& name,
                                      std::vector<int64_t>& shape) {
  require(v.rank() == 3 && (v.dtype == DType::F32 || v.dtype == DType::F16 || v.dtype == DType::BF16 ||
                            v.dtype == DType::Q8_0),
          where, ": tensor ", name, " has shape ", shape_string(v.shape), " and type ", dtype_name(v.dtype),
          " (expert LoRA factors are 3-D [experts, rows, cols], F32, F16, BF16 or Q8_0)");
  std::vector<float> flat(static_cast<size_t>(v.numel()));
  const int64_t row = v.row_length();
  for (int64_t r = 0; r < v.row_count(); ++r) row_to_f32(v.dtype, v.row(r), flat.data() + r * row, row);
  const int64_t E = v.dim(0), d1 = v.dim(1), d2 = v.dim(2);
  if (!is_b) {
    shape = {E * d1, d2};  // [E, r, in] -> [r·E, in]: the same order
    return flat;
  }
  shape = {d1, d2 * E};  // [E, out, r] -> [out, r·E], column j·E + e
  std::vector<float> b(flat.size());
  for (int64_t e = 0; e < E; ++e)
    for (int64_t o = 0; o < d1; ++o)
      for (int64_t j = 0; j < d2; ++j)
        b[static_cast<size_t>(o * d2 * E + j * E + e)] = flat[static_cast<size_t>((e * d1 + o) * d2 + j)];
  return b;
}

}  // namespace

namespace detail {

LoraModel load_gguf_adapter(const std::string& path, const Model& model, std::vector<std::string>* warnings) {
  auto file = GgufFile::open(path);
  const std::string type = file->get_string_or("general.type", "");
  require(type == "adapter", path, ": general.type is '", type,
          "', expected 'adapter' (is this a model rather than a LoRA adapter?)");
  const std::string adapter_type = file->get_string_or("adapter.type", "");
  require(adapter_type == "lora", path, ": adapter.type is '", adapter_type, "', expected 'lora'");
  const std::string arch = file->get_string_or("general.architecture", "");
  require(arch == "gemma4", path, ": the adapter is for architecture '", arch, "', the model is gemma4");
  // llama.cpp: scale = alpha / rank of each module, or 1 when alpha is missing or 0.
  const double alpha = file->get_real_or("adapter.lora.alpha", 0.0);

  AdapterBuilder builder(model, path, warnings);
  int64_t first_rank = 0;
  int norms = 0;
  for (const GgufTensor& t : file->tensors()) {
    const bool is_a = ends_with(t.name, ".lora_a"), is_b = ends_with(t.name, ".lora_b");
    if (!is_a && !is_b) {
      if (ends_with(t.name, "_norm.weight")) {  // mergekit puts norms in adapters; llama.cpp skips them
        ++norms;
        continue;
      }
      fail(path, ": tensor ", t.name, " has an unexpected suffix (LoRA tensors end in .lora_a or .lora_b)");
    }
    const std::string base = t.name.substr(0, t.name.size() - 7);
    const auto parsed = parse_gguf_base_name(base);
    require(parsed.has_value(), path, ": tensor ", t.name, " adapts ", base,
            ", which facet does not adapt (supported: blk.N.attn_q/attn_k/attn_v/attn_output/ffn_gate/ffn_up/",
            "ffn_down/inp_gate/proj.weight)");
    if (parsed->module.ends_with("_exps")) {
      require(parsed->module == "ffn_gate_up_exps" || parsed->module == "ffn_down_exps", path, ": tensor ", t.name,
              " adapts ", parsed->module, "; facet reads expert LoRA on ffn_gate_up_exps and ffn_down_exps only ",
              "(split gate/up expert adapters: merge them with llama-export-lora, or use the PEFT format)");
      const LoraTarget target = parsed->module == "ffn_gate_up_exps" ? LoraTarget::ExpertGateUp : LoraTarget::ExpertDown;
      std::vector<int64_t> shape;
      std::vector<float> values = peft_expert_factor(t.view, is_b, path, t.name, shape);
      if (is_a && first_rank == 0) first_rank = t.view.dim(1);
      builder.add_converted(parsed->layer, target, is_b, t.name, std::move(shape), std::move(values));
      continue;
    }
    const auto target = target_from_gguf_module(parsed->module);
    require(target.has_value(), path, ": tensor ", t.name, " adapts unknown or unsupported module '", parsed->module,
            "' of layer ", parsed->layer);
    builder.add(parsed->layer, *target, is_b, t.name, t.view, false);
    if (is_a && first_rank == 0 && t.view.rank() == 2) first_rank = t.view.dim(0);
  }
  if (norms > 0) builder.warn(str_cat(path, ": ignoring ", norms, " norm tensors (not LoRA factors)"));

  LoraConfig config;
  config.rank = static_cast<int>(std::max<int64_t>(first_rank, 1));
  config.alpha = alpha != 0 ? alpha : static_cast<double>(config.rank);
  config.use_rslora = false;
  // facet's PEFT keys give back the exact r / alpha / rsLoRA when they agree with what
  // llama.cpp will compute from adapter.lora.alpha.
  if (file->has(kPeftRank) && file->has(kPeftAlpha)) {
    LoraConfig peft = config;
    peft.rank = static_cast<int>(file->get_int(kPeftRank));
    peft.alpha = file->get_real(kPeftAlpha);
    peft.use_rslora = file->get_bool_or(kPeftRslora, false);
    peft.dropout = file->get_real_or(kPeftDropout, 0.0);
    if (peft.rank > 0 && alpha != 0 && same_scale(peft.scale(), alpha / peft.rank)) config = peft;
    else builder.warn(str_cat(path, ": ignoring adapter.lora.peft.* keys that disagree with adapter.lora.alpha"));
  }
  auto module_scale = [&](int, LoraTarget, int64_t rank) { return alpha != 0 ? alpha / static_cast<double>(rank) : 1.0; };
  return builder.build(config, module_scale);
}

}  // namespace detail

void save_gguf_adapter(const LoraModel& lora, const Model& model, const std::string& path) {
  require(lora.layers.size() == model.weights.layers.size(), "the LoRA adapter has ", lora.layers.size(),
          " layers but the model has ", model.weights.layers.size());
  const LoraConfig& c = lora.config;
  const double scale = c.scale();
  // llama.cpp computes alpha / rank per module and knows nothing of rsLoRA or patterns:
  // give it the alpha that yields our scale at rank r, and fold the difference for modules
  // of another rank into their B.
  const double alpha = scale * c.rank;
  GgufWriter writer;
  writer.set("general.architecture", GgufValue::of_string("gemma4"));
  writer.set("general.type", GgufValue::of_string("adapter"));
  writer.set("general.name", GgufValue::of_string("LoRA adapter"));
  writer.set("adapter.type", GgufValue::of_string("lora"));
  writer.set("adapter.lora.alpha", GgufValue::of_f32(static_cast<float>(alpha)));
  writer.set(kPeftRank, GgufValue::of_u32(static_cast<uint32_t>(c.rank)));
  GgufValue alpha64;
  alpha64.type = GgufType::F64;
  alpha64.real = c.alpha;
  writer.set(kPeftAlpha, alpha64);
  writer.set(kPeftRslora, GgufValue::of_bool(c.use_rslora));
  writer.set(kPeftDropout, GgufValue::of_f32(static_cast<float>(c.dropout)));
  std::vector<std::vector<float>> folded;  // B of modules whose rank is not c.rank
  folded.reserve(lora.layers.size() * kLoraTargetCount);
  int count = 0;
  for (size_t l = 0; l < lora.layers.size(); ++l)
    for (int t = 0; t < kLoraTargetCount; ++t) {
      const LoraWeights* w = lora.layers[l].get(static_cast<LoraTarget>(t));
      if (!w) continue;
      if (w->experts > 0) {
        // Never drop the experts' factors silently: the GGUF would change the model's output.
        require(model.weights.layers[l].experts_fused, "the adapter has LoRA on the MoE experts (",
                lora_target_name(static_cast<LoraTarget>(t)), "), which facet writes as a llama.cpp adapter only for ",
                "a base with fused ffn_gate_up_exps; save it in the PEFT format (a folder) or merge it into the ",
                "model with `facet export --merge`");
        std::vector<float>& b = folded.emplace_back(gguf_expert_b(*w));
        if (w->rank != c.rank)
          for (float& v : b) v = static_cast<float>(v * (static_cast<double>(w->rank) / c.rank));
        const std::string base = "blk." + std::to_string(l) + "." + gguf_module_name(static_cast<LoraTarget>(t)) + ".weight";
        writer.add_tensor(base + ".lora_a", DType::F32, {w->experts, w->rank, w->in}, w->a.data());
        writer.add_tensor(base + ".lora_b", DType::F32, {w->experts, w->out, w->rank}, b.data());
        ++count;
        continue;
      }
      const std::string base = "blk." + std::to_string(l) + "." + gguf_module_name(static_cast<LoraTarget>(t)) + ".weight";
      const WeightMatrix& m = adapted_matrix(model.weights, static_cast<int>(l), static_cast<LoraTarget>(t));
      require(m.rows == w->out && m.cols == w->in, "the LoRA module on ", base, " is [", w->out, ", ", w->in,
              "] but the model's weight is [", m.rows, ", ", m.cols, "]");
      const float* b = w->b.data();
      if (w->rank != c.rank) {
        const double fold = static_cast<double>(w->rank) / c.rank;
        folded.emplace_back(w->b.size());
        for (size_t i = 0; i < w->b.size(); ++i) folded.back()[i] = static_cast<float>(w->b[i] * fold);
        b = folded.back().data();
      }
      writer.add_tensor(base + ".lora_a", DType::F32, {w->rank, w->in}, w->a.data());
      writer.add_tensor(base + ".lora_b", DType::F32, {w->out, w->rank}, b);
      ++count;
    }
  require(count > 0, "the LoRA adapter has no modules to save");
  writer.write(path);
}

}  // namespace facet::train
