// `facet quantize`: rewrites a model (GGUF file or HF folder) as a GGUF file whose weight
// matrices are stored in another type, keeping the metadata (and tokenizer) as they were.
//
// Which type each tensor gets (quant_type_for):
//   - 1-D tensors (norms, scales, rope_freqs) stay F32, as llama.cpp keeps them.
//   - F32 / F16 / BF16 / Q8_0 / Q4_0 / Q6_K: every matrix in that type.
//   - Q4_0 also stores token_embd (the tied output head, the most sensitive matrix) in Q8_0.
//   - Q4_K_M, llama.cpp's usual mix as a simple rule: Q4_K everywhere, but Q6_K for
//     token_embd (tied output head) and for attn_v / ffn_down(_exps) on the layers where
//     llama.cpp's "use more bits" rule picks them: the first and last eighth of the layers
//     and every third layer in between (i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2).
//   - A matrix whose rows can't hold whole blocks falls back: Q4_K -> Q4_0 and Q6_K -> Q8_0
//     for rows of 32-multiples (e.g. 128-wide test models), and F32 below that.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace facet {

enum class QuantScheme { F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K };

// "Q4_K_M", "q8_0", ... (any case); throws Error listing the valid names otherwise.
QuantScheme parse_quant_scheme(const std::string& name);
std::string quant_scheme_name(QuantScheme scheme);
// The scheme llama.cpp's general.file_type code stands for (0 F32, 1 F16, 2 Q4_0, 7 Q8_0,
// 15 Q4_K_M, 18 Q6_K, 32 BF16); nullopt for codes facet does not write.
std::optional<QuantScheme> quant_scheme_from_file_type(uint32_t file_type);

// The storage type of tensor `name` of `shape` (row-major) in a model of `n_layers`.
DType quant_type_for(QuantScheme scheme, const std::string& name, const std::vector<int64_t>& shape, int n_layers);

struct QuantizeReport {
  int64_t tensors = 0;
  uint64_t bytes_in = 0;   // weight data read
  uint64_t bytes_out = 0;  // output file size
  std::map<std::string, int64_t> tensors_per_type;  // "Q4_K" -> count
  double seconds = 0;
};

// Changes the rows of a tensor (as f32, before they are stored): the editor for a GGUF
// tensor name, or an empty function to keep that tensor as it is. `facet export --merge`
// adds LoRA adapters to the weights this way.
using RowEditor = std::function<void(int64_t row, float* values, int64_t count)>;
using RowEditorFor = std::function<RowEditor(const std::string& gguf_name)>;

// Reads `in` (a .gguf file or an HF folder), writes `out` (GGUF). threads <= 0: all cores.
// `hf_chat_template`: for an HF folder, written as tokenizer.chat_template (a GGUF input
// keeps its own metadata, template included).
QuantizeReport quantize_model(const std::string& in, const std::string& out, QuantScheme scheme, int threads = 0,
                              const std::string& hf_chat_template = "", const RowEditorFor& edit = {});

}  // namespace facet
