// llama.cpp LoRA adapter GGUF files (finetune spec §3.1, §3.2).
#include <algorithm>
#include <cmath>

#include "formats/gguf.h"
#include "train/adapter_io.h"
#include "train/adapter_io_internal.h"
#include "train/adapter_names.h"
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
    require(!parsed->module.ends_with("_exps"), path, ": tensor ", t.name, " adapts the MoE experts; facet does not ",
            "read expert LoRA from a GGUF adapter yet (use the PEFT folder, or merge with `facet export --merge`)");
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
      // Never drop the experts' factors silently: the GGUF would change the model's output.
      require(!is_expert_target(static_cast<LoraTarget>(t)), "the adapter has LoRA on the MoE experts (",
              lora_target_name(static_cast<LoraTarget>(t)), "), which facet cannot write as a llama.cpp GGUF adapter ",
              "yet; save it in the PEFT format (a folder) or merge it into the model with `facet export --merge`");
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
