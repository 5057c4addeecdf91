// Writing bitsandbytes NF4 checkpoints: for tests and for handing facet-made QLoRA bases
// to Python tools (`facet quantize IN OUT_DIR NF4`).
#include <cstring>
#include <memory>

#include "formats/safetensors.h"
#include "model/bnb_nf4.h"
#include "tensor/nf4.h"
#include "util/error.h"

namespace facet {

void add_bnb_nf4_tensors(SafetensorsWriter& writer, const std::string& name, const std::vector<int64_t>& shape,
                         const std::vector<float>& values, const std::string& original_dtype) {
  require(shape.size() == 2 && static_cast<int64_t>(values.size()) == shape[0] * shape[1],
          "internal: NF4 writer needs a matrix, got ", name, " ", shape_string(shape));
  // Double quantization needs the whole tensor (the mean of its absmax), so it is quantized
  // now and the producers copy from this shared result when the file is written.
  auto q = std::make_shared<const BnbNf4Quantized>(quantize_bnb_nf4(values.data(), static_cast<int64_t>(values.size())));
  auto copy_bytes = [](const void* src) {
    return [src](uint8_t* dst, size_t bytes) { std::memcpy(dst, src, bytes); };
  };
  const nlohmann::json state = {{"quant_type", "nf4"},
                                {"blocksize", kNf4Block},
                                {"dtype", original_dtype},
                                {"shape", shape},
                                {"nested_blocksize", kNf4NestedBlock},
                                {"nested_dtype", "float32"},
                                {"nested_offset", q->offset}};
  auto state_text = std::make_shared<const std::string>(state.dump());

  writer.add_u8_tensor(name, {static_cast<int64_t>(q->packed.size()), 1},
                       [q](uint8_t* dst, size_t bytes) { std::memcpy(dst, q->packed.data(), bytes); });
  writer.add_u8_tensor(name + ".absmax", {static_cast<int64_t>(q->absmax_codes.size())},
                       [q](uint8_t* dst, size_t bytes) { std::memcpy(dst, q->absmax_codes.data(), bytes); });
  writer.add_tensor(name + ".quant_map", DType::F32, {16}, copy_bytes(kNf4Codebook.data()));
  writer.add_tensor(name + ".nested_absmax", DType::F32, {static_cast<int64_t>(q->nested_absmax.size())},
                    [q](uint8_t* dst, size_t bytes) { std::memcpy(dst, q->nested_absmax.data(), bytes); });
  writer.add_tensor(name + ".nested_quant_map", DType::F32, {256}, copy_bytes(dynamic_map_signed().data()));
  writer.add_u8_tensor(name + ".quant_state.bitsandbytes__nf4", {static_cast<int64_t>(state_text->size())},
                       [state_text](uint8_t* dst, size_t bytes) { std::memcpy(dst, state_text->data(), bytes); });
}

nlohmann::json bnb_nf4_quantization_config() {
  return {{"quant_method", "bitsandbytes"},
          {"load_in_4bit", true},
          {"load_in_8bit", false},
          {"bnb_4bit_quant_type", "nf4"},
          {"bnb_4bit_use_double_quant", true},
          {"bnb_4bit_compute_dtype", "bfloat16"},
          {"bnb_4bit_quant_storage", "uint8"},
          {"llm_int8_skip_modules", nullptr}};
}

}  // namespace facet
