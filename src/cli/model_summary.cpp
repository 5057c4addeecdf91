#include "cli/model_summary.h"

#include <cstdio>
#include <map>

#include "model/gguf_source.h"
#include "model/quantize_model.h"
#include "model/tensor_manifest.h"

namespace facet::cli {

ModelSummary summarize_model(const Model& model) {
  ModelSummary s;
  std::map<std::string, uint64_t> matrix_bytes_by_type;
  for (const TensorSpec& spec : tensor_manifest(model.config)) {
    const TensorView* t = model.source->find(spec.gguf_name);
    if (t == nullptr) continue;
    s.weight_bytes += t->byte_size();
    s.params += static_cast<uint64_t>(t->numel());
    if (t->rank() >= 2) matrix_bytes_by_type[std::string(dtype_name(t->dtype))] += t->byte_size();
  }
  // A GGUF says what mix it is (Q4_K_M stores Q4_K and Q6_K matrices); otherwise name the
  // type that holds most of the matrix bytes.
  if (const auto* gguf = dynamic_cast<const GgufWeightSource*>(model.source.get())) {
    const int64_t code = gguf->file().get_int_or("general.file_type", -1);
    if (code >= 0)
      if (auto scheme = quant_scheme_from_file_type(static_cast<uint32_t>(code))) s.type = quant_scheme_name(*scheme);
  }
  if (s.type.empty()) {
    uint64_t most = 0;
    for (const auto& [name, bytes] : matrix_bytes_by_type)
      if (bytes > most) most = bytes, s.type = "mostly " + name;
  }
  return s;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof(buf), u ? "%.2f %s" : "%.0f %s", b, units[u]);
  return buf;
}

std::string human_count(double n) {
  const char* units[] = {"", "K", "M", "B", "T"};
  int u = 0;
  while (n >= 1000 && u < 4) n /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof(buf), u ? "%.2f %s" : "%.0f%s", n, units[u]);
  return buf;
}

}  // namespace facet::cli
