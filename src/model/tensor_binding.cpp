#include "model/tensor_binding.h"

#include "tensor/convert.h"
#include "util/error.h"

namespace facet {

const TensorView& checked_tensor(const WeightSource& source, const std::string& gguf_name,
                                 const std::vector<int64_t>& shape, const std::string& where, ScalarShape scalars) {
  const TensorView* t = source.find(gguf_name);
  const std::string shown = source.source_name(gguf_name);
  require(t != nullptr, where, ": tensor ", shown, " is missing");
  const bool scalar_ok = scalars == ScalarShape::ZeroOrOneD && shape.size() <= 1 && t->numel() == 1 &&
                         (shape.empty() || shape[0] == 1);
  require(t->shape == shape || scalar_ok, where, ": tensor ", shown, " has shape ", shape_string(t->shape),
          ", expected ", shape_string(shape));
  require(dtype_info(t->dtype).computable, where, ": tensor ", shown, " has type ", dtype_name(t->dtype),
          ", which facet cannot compute with");
  return *t;
}

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  row_to_f32(t.dtype, t.data, out.data(), t.numel());
  return out;
}

}  // namespace facet
