#include "tensor/dtype.h"

#include "util/error.h"

namespace facet {

std::optional<DTypeInfo> dtype_info(uint32_t id) {
  for (const auto& t : detail::kDTypeTable)
    if (static_cast<uint32_t>(t.dtype) == id) return t;
  return std::nullopt;
}

const DTypeInfo& dtype_info_by_search(DType dtype) {
  for (const auto& t : detail::kDTypeTable)
    if (t.dtype == dtype) return t;
  fail("internal: dtype id ", static_cast<uint32_t>(dtype), " missing from the type table");
}

std::string_view dtype_name(DType dtype) { return dtype_info(dtype).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& t : detail::kDTypeTable)
    if (t.name == name) return t.dtype;
  return std::nullopt;
}

}  // namespace facet
