#include "train/full_model_export.h"

#include <algorithm>
#include <cctype>

#include "model/hf_export.h"
#include "model/quantize_model.h"
#include "util/error.h"

namespace facet::train {

void export_full_model(const FullModel& full, const std::string& out, const std::string& outtype, int threads) {
  // Each tensor's rows are replaced by the trained values as the writer streams them.
  auto editor_for = [&full](const std::string& gguf_name) -> RowEditor {
    const FullModel::Param* p = full.find(gguf_name);
    if (!p) return {};
    return [p](int64_t row, float* values, int64_t count) {
      const size_t first = static_cast<size_t>(row * count);
      require(first + static_cast<size_t>(count) <= p->value->size(), "internal: row ", row, " of ", p->name,
              " is out of range");
      std::copy_n(p->value->begin() + static_cast<std::ptrdiff_t>(first), count, values);
    };
  };
  const std::string& base = full.model().path;
  const bool gguf = out.size() > 5 && out.compare(out.size() - 5, 5, ".gguf") == 0;
  if (gguf) {
    quantize_model(base, out, parse_quant_scheme(outtype), threads, "", editor_for);
    return;
  }
  std::string upper = outtype;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  require(upper == "F32" || upper == "F16" || upper == "BF16", "--outtype ", outtype,
          " needs a .gguf output; a safetensors folder holds F32, F16 or BF16");
  write_hf_model(base, out, upper == "F32" ? DType::F32 : upper == "F16" ? DType::F16 : DType::BF16, threads,
                 editor_for);
}

std::string export_trained_model(const FullModel& full, const std::string& output_dir, const std::string& outtype,
                                 bool save_hf, int threads) {
  export_full_model(full, output_dir + "/model.gguf", outtype, threads);
  std::string written = output_dir + "/model.gguf (" + outtype + ")";
  if (save_hf) {
    std::string upper = outtype;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    const std::string hf_type = upper == "F32" || upper == "F16" || upper == "BF16" ? upper : "BF16";
    export_full_model(full, output_dir + "/hf", hf_type, threads);
    written += ", " + output_dir + "/hf (" + hf_type + " safetensors)";
  }
  return written;
}

}  // namespace facet::train
