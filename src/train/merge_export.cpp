#include "train/merge_export.h"

#include <cctype>

#include "model/hf_export.h"
#include "model/quantize_model.h"
#include "train/adapter_names.h"
#include "train/adapter_runtime.h"
#include "util/error.h"

namespace facet::train {

MergeExportReport export_merged(const MergeExportOptions& options) {
  require(!options.adapters.empty(), "export --merge needs at least one --lora adapter");
  require(!options.out.empty(), "export --merge needs --out FILE.gguf or --out FOLDER");
  std::unique_ptr<Model> model = load_model(options.base);
  std::vector<LoadedAdapter> adapters;
  for (const auto& [path, scale] : options.adapters)
    adapters.push_back(load_adapter_for_inference(path, scale, *model));

  std::string type = options.outtype;
  if (type.empty()) {
    const DType base = model->weights.layers.at(0).q.dtype;
    type = base == DType::F32 ? "F32" : base == DType::BF16 ? "BF16" : "F16";
  }
  MergeExportReport report;
  // The merged rows of every weight some adapter touches; other tensors are copied.
  auto editor_for = [&](const std::string& gguf_name) -> RowEditor {
    const auto base = parse_gguf_base_name(gguf_name);
    if (!base) return {};
    if (const auto expert = expert_rows_of_gguf_module(base->module, model->config)) {
      // Rows run over all experts ([E · rows]); map them to rows of the adapted parameter.
      if (base->layer >= static_cast<int>(model->weights.layers.size())) return {};
      bool any = false;
      for (const LoadedAdapter& a : adapters)
        any = any || a.lora->layers[static_cast<size_t>(base->layer)].get(expert->target) != nullptr;
      if (!any) return {};
      ++report.adapted_matrices;
      const int layer = base->layer;
      const ExpertRows map = *expert;
      return [&adapters, layer, map](int64_t row, float* values, int64_t count) {
        const int64_t e = row / map.rows, i = row % map.rows;
        add_merged_row(adapters, layer, map.target, e * map.param_rows + map.first_row + i, values, count);
      };
    }
    const auto target = target_from_gguf_module(base->module);
    if (!target || base->layer >= static_cast<int>(model->weights.layers.size())) return {};
    bool any = false;
    for (const LoadedAdapter& a : adapters)
      any = any || a.lora->layers[static_cast<size_t>(base->layer)].get(*target) != nullptr;
    if (!any) return {};
    ++report.adapted_matrices;
    const int layer = base->layer;
    const LoraTarget t = *target;
    return [&adapters, layer, t](int64_t row, float* values, int64_t count) {
      add_merged_row(adapters, layer, t, row, values, count);
    };
  };

  const std::string& out = options.out;
  const bool gguf = out.size() > 5 && out.compare(out.size() - 5, 5, ".gguf") == 0;
  if (gguf) {
    const QuantScheme scheme = parse_quant_scheme(type);
    quantize_model(options.base, out, scheme, options.threads, "", editor_for);
    report.format = "gguf";
    report.outtype = quant_scheme_name(scheme);
  } else {
    std::string upper = type;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    require(upper == "F32" || upper == "F16" || upper == "BF16", "--outtype ", type,
            " needs a .gguf output; a safetensors folder holds F32, F16 or BF16");
    const DType dtype = upper == "F32" ? DType::F32 : upper == "F16" ? DType::F16 : DType::BF16;
    write_hf_model(options.base, out, dtype, options.threads, editor_for);
    report.format = "safetensors";
    report.outtype = upper;
  }
  return report;
}

}  // namespace facet::train
