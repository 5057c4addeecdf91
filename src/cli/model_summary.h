// What `facet bench` and `facet info` say about a loaded model in one line: its weight
// type (llama.cpp's file-type name, e.g. Q4_K_M), the bytes and the parameter count of its
// decoder tensors.
#pragma once

#include <cstdint>
#include <string>

#include "model/model.h"

namespace facet::cli {

struct ModelSummary {
  std::string type;         // "Q4_K_M", "F16", ... or "mostly Q8_0" when the file does not say
  uint64_t weight_bytes = 0;  // bytes of the decoder's tensors as stored
  uint64_t params = 0;        // their element count
};

ModelSummary summarize_model(const Model& model);

// 1536 -> "1.50 KiB"; 7 -> "7 B".
std::string human_bytes(double bytes);
// 5.1e9 -> "5.10 B", 3.4e7 -> "34.00 M".
std::string human_count(double count);

}  // namespace facet::cli
