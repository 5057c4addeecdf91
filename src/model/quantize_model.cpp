#include "model/quantize_model.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>

#include "formats/gguf.h"
#include "model/gguf_source.h"
#include "model/model.h"
#include "model/model_writer.h"
#include "model/tensor_manifest.h"
#include "model/test_vocabulary.h"
#include "tensor/convert.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

struct SchemeName {
  QuantScheme scheme;
  const char* name;
  uint32_t file_type;  // llama.cpp's general.file_type
};
constexpr SchemeName kSchemes[] = {
    {QuantScheme::F32, "F32", 0},   {QuantScheme::F16, "F16", 1},       {QuantScheme::BF16, "BF16", 32},
    {QuantScheme::Q8_0, "Q8_0", 7}, {QuantScheme::Q4_0, "Q4_0", 2},     {QuantScheme::Q4_K_M, "Q4_K_M", 15},
    {QuantScheme::Q6_K, "Q6_K", 18},
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Layer index of a "blk.N.*" name, or -1.
int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::atoi(name.c_str() + 4);
}

// llama.cpp's rule for the Q4_K_M layers that get more bits.
bool uses_more_bits(int layer, int n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

DType fit_row(DType want, int64_t row) {
  if (row % dtype_info(want).block_size == 0) return want;
  if (want == DType::Q4_K && row % 32 == 0) return DType::Q4_0;
  if (want == DType::Q6_K && row % 32 == 0) return DType::Q8_0;
  return DType::F32;
}

}  // namespace

QuantScheme parse_quant_scheme(const std::string& name) {
  std::string upper = name;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const auto& s : kSchemes)
    if (upper == s.name) return s.scheme;
  fail("unknown quantization type '", name, "' (expected F32, F16, BF16, Q8_0, Q4_0, Q4_K_M or Q6_K)");
}

std::string quant_scheme_name(QuantScheme scheme) {
  for (const auto& s : kSchemes)
    if (s.scheme == scheme) return s.name;
  return "?";
}

std::optional<QuantScheme> quant_scheme_from_file_type(uint32_t file_type) {
  for (const auto& s : kSchemes)
    if (s.file_type == file_type) return s.scheme;
  return std::nullopt;
}

DType quant_type_for(QuantScheme scheme, const std::string& name, const std::vector<int64_t>& shape, int n_layers) {
  if (shape.size() < 2) return DType::F32;
  const bool is_embedding = name == "token_embd.weight";
  DType want = DType::F32;
  switch (scheme) {
    case QuantScheme::F32: want = DType::F32; break;
    case QuantScheme::F16: want = DType::F16; break;
    case QuantScheme::BF16: want = DType::BF16; break;
    case QuantScheme::Q8_0: want = DType::Q8_0; break;
    case QuantScheme::Q6_K: want = DType::Q6_K; break;
    case QuantScheme::Q4_0: want = is_embedding ? DType::Q8_0 : DType::Q4_0; break;
    case QuantScheme::Q4_K_M: {
      const bool sensitive = ends_with(name, ".attn_v.weight") || ends_with(name, ".ffn_down.weight") ||
                             ends_with(name, ".ffn_down_exps.weight");
      const int layer = layer_of(name);
      want = is_embedding || (sensitive && layer >= 0 && uses_more_bits(layer, n_layers)) ? DType::Q6_K : DType::Q4_K;
      break;
    }
  }
  return fit_row(want, shape.back());
}

QuantizeReport quantize_model(const std::string& in, const std::string& out, QuantScheme scheme, int threads,
                              const std::string& hf_chat_template, const RowEditorFor& edit) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Model> model = load_model(in);
  const ModelConfig& c = model->config;
  ThreadPool pool(threads);
  GgufWriter writer;
  uint32_t file_type = 0;
  for (const auto& s : kSchemes)
    if (s.scheme == scheme) file_type = s.file_type;

  // Metadata: a GGUF's keys are copied as they are; an HF folder's are written from its config.
  std::vector<std::pair<std::string, const TensorView*>> tensors;
  std::vector<float> rope_freqs;
  if (const auto* gguf = dynamic_cast<const GgufWeightSource*>(model->source.get())) {
    for (const auto& [key, value] : gguf->file().metadata()) {
      if (key == "general.alignment") continue;
      writer.set(key, key == "general.file_type" ? GgufValue::of_u32(file_type) : value);
    }
    if (gguf->file().has("general.alignment")) writer.set_alignment(static_cast<uint32_t>(gguf->file().alignment()));
    if (!gguf->file().has("general.file_type")) writer.set("general.file_type", GgufValue::of_u32(file_type));
    for (const auto& t : gguf->file().tensors()) tensors.push_back({t.name, &t.view});
  } else {
    write_gguf_metadata(writer, c, DType::F32);
    writer.set("general.file_type", GgufValue::of_u32(file_type));
    const std::string tokenizer = (std::filesystem::path(in) / "tokenizer.json").string();
    write_gguf_tokenizer(writer, vocabulary_from_hf_tokenizer(tokenizer, c.vocab_size));
    if (!hf_chat_template.empty()) writer.set("tokenizer.chat_template", GgufValue::of_string(hf_chat_template));
    for (const TensorSpec& spec : tensor_manifest(c)) {
      if (spec.role == TensorRole::RopeFreqs) {
        rope_freqs = rope_freqs_values(c);
        writer.add_tensor(spec.gguf_name, DType::F32, spec.shape, rope_freqs.data());
        continue;
      }
      const TensorView* t = model->source->find(spec.gguf_name);
      if (t != nullptr) tensors.push_back({spec.gguf_name, t});
    }
  }

  QuantizeReport report;
  for (const auto& [name, view] : tensors) {
    const TensorView& src = *view;
    const DType dtype = quant_type_for(scheme, name, src.shape, c.n_layers);
    ++report.tensors;
    ++report.tensors_per_type[std::string(dtype_name(dtype))];
    report.bytes_in += src.byte_size();
    require(dtype_info(src.dtype).computable, in, ": tensor ", name, " has type ", dtype_name(src.dtype),
            ", which facet cannot read");
    RowEditor editor = edit ? edit(name) : RowEditor();
    writer.add_tensor(name, dtype, src.shape, [&src, dtype, &pool, editor](uint8_t* dst, size_t) {
      const int64_t row = src.row_length(), rows = src.row_count();
      const size_t out_row_bytes = dtype_row_bytes(dtype, row);
      pool.parallel_for(rows, [&](int64_t begin, int64_t end) {
        std::vector<float> values(static_cast<size_t>(row));
        for (int64_t r = begin; r < end; ++r) {
          row_to_f32(src.dtype, src.row(r), values.data(), row);
          if (editor) editor(r, values.data(), row);
          row_from_f32(dtype, values.data(), dst + static_cast<size_t>(r) * out_row_bytes, row);
        }
      }, 4);
    });
  }
  writer.write(out);
  report.bytes_out = std::filesystem::file_size(out);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace facet
