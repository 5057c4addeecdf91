// bitsandbytes 4-bit (NF4) weights in Hugging Face safetensors checkpoints, as
// transformers' Linear4bit serialization and Unsloth's "-bnb-4bit" uploads store them.
// For a linear layer with weight P:
//   P                                          U8 packed codes (element 2k in the high nibble)
//   P.absmax                                   U8 codes (double quantization) or F32 per 64-block
//   P.quant_map                                F32[16], the NF4 table
//   P.nested_absmax, P.nested_quant_map        F32, double quantization only
//   P.quant_state.bitsandbytes__nf4            U8 JSON: quant_type, blocksize, shape, dtype,
//                                              nested_blocksize, nested_offset, ...
// and config.json carries "quantization_config": {"quant_method": "bitsandbytes", ...}.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/tensor.h"

namespace facet {

class SafetensorsSet;

// A bitsandbytes weight decoded for facet: runtime NF4 rows when the row length is whole
// 64-blocks (4.5 bits per weight), otherwise F32 (bitsandbytes' blocks then run across
// rows, which runtime NF4 rows cannot express; such matrices are small in practice).
struct BnbWeight {
  TensorView view;             // points into storage
  std::vector<uint8_t> storage;
};

// True when `name` is stored as a bitsandbytes 4-bit weight (has a quant state or absmax).
bool is_bnb_4bit_weight(const SafetensorsSet& set, const std::string& name);

// Decodes weight `name` and its quant state; throws Error naming the tensor for
// anything malformed or unsupported (fp4, a block size other than 64, wrong sizes).
BnbWeight load_bnb_nf4_weight(const SafetensorsSet& set, const std::string& name);

// Checks config.json's "quantization_config" (if any) names something facet can load:
// bitsandbytes 4-bit NF4. `where` names the file in errors.
void check_quantization_config(const nlohmann::json& config, const std::string& where);

}  // namespace facet

namespace facet {

class SafetensorsWriter;

// Adds weight `name` (values: n = shape[0]·shape[1] floats, row-major) to `writer` as
// bitsandbytes stores an NF4 Linear4bit weight with double quantization (all six tensors).
// `original_dtype` is the torch dtype name recorded in the quant state ("bfloat16").
void add_bnb_nf4_tensors(SafetensorsWriter& writer, const std::string& name, const std::vector<int64_t>& shape,
                         const std::vector<float>& values, const std::string& original_dtype);

// config.json's "quantization_config" for such a checkpoint (as transformers writes it).
nlohmann::json bnb_nf4_quantization_config();

}  // namespace facet
