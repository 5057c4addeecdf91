#include "model/hf_export.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "model/bnb_nf4.h"
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

namespace fs = std::filesystem;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  require(out.good(), path, ": cannot write");
}

// The vocabulary a GGUF's tokenizer.ggml.* keys describe, for an HF tokenizer.json.
TestVocabulary vocabulary_from_gguf(const GgufFile& f) {
  TestVocabulary v;
  v.tokens = f.get_string_array("tokenizer.ggml.tokens");
  const std::vector<int64_t> types = f.get_int_array("tokenizer.ggml.token_type", v.tokens.size());
  for (int64_t t : types) v.types.push_back(static_cast<GgufTokenType>(t));
  if (f.has("tokenizer.ggml.merges")) v.merges = f.get_string_array("tokenizer.ggml.merges");
  v.bos_id = static_cast<int>(f.get_int_or("tokenizer.ggml.bos_token_id", v.bos_id));
  v.eos_id = static_cast<int>(f.get_int_or("tokenizer.ggml.eos_token_id", v.eos_id));
  v.pad_id = static_cast<int>(f.get_int_or("tokenizer.ggml.padding_token_id", v.pad_id));
  v.unk_id = static_cast<int>(f.get_int_or("tokenizer.ggml.unknown_token_id", v.unk_id));
  v.mask_id = static_cast<int>(f.get_int_or("tokenizer.ggml.mask_token_id", v.mask_id));
  return v;
}

const char* torch_dtype(DType dtype) {
  return dtype == DType::F16 ? "float16" : dtype == DType::BF16 ? "bfloat16" : "float32";
}

// Matrices bitsandbytes would quantize (nn.Linear weights): every 2-D tensor but the
// embedding tables, which are nn.Embedding.
bool is_linear_weight(const TensorSpec& spec) {
  return spec.shape.size() == 2 && spec.gguf_name != "token_embd.weight" &&
         spec.gguf_name != "per_layer_token_embd.weight";
}

// `nf4`: linear weights as bitsandbytes NF4 (double-quantized), the rest in `dtype`.
void write_folder(const std::string& in, const std::string& out_dir, DType dtype, bool nf4, int threads,
                  const RowEditorFor& edit) {
  require(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16,
          "a safetensors folder stores F32, F16 or BF16 weights (got ", dtype_name(dtype),
          "); write a .gguf file for quantized types");
  std::unique_ptr<Model> model = load_model(in);
  const ModelConfig& c = model->config;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  require(!ec && fs::is_directory(out_dir), out_dir, ": cannot create the output folder");

  const bool text_only = model->source->source_name("token_embd.weight").starts_with(kHfPrefixText) &&
                         !model->source->source_name("token_embd.weight").starts_with(kHfPrefixMultimodal);
  nlohmann::json config = text_only ? hf_config_json(c) : hf_multimodal_config_json(c);
  config["torch_dtype"] = torch_dtype(dtype);
  if (nf4) config["quantization_config"] = bnb_nf4_quantization_config();
  write_text(out_dir + "/config.json", config.dump(2) + "\n");

  if (const auto* gguf = dynamic_cast<const GgufWeightSource*>(model->source.get())) {
    write_text(out_dir + "/tokenizer.json", hf_tokenizer_json(vocabulary_from_gguf(gguf->file())).dump() + "\n");
    const std::string tmpl = gguf->file().get_string_or("tokenizer.chat_template", "");
    if (!tmpl.empty()) write_text(out_dir + "/chat_template.jinja", tmpl);
  } else {
    for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                             "chat_template.jinja", "generation_config.json"}) {
      const fs::path src = fs::path(in) / name;
      if (!fs::exists(src)) continue;
      fs::copy_file(src, fs::path(out_dir) / name, fs::copy_options::overwrite_existing, ec);
      require(!ec, src.string(), ": cannot copy into ", out_dir, ": ", ec.message());
    }
  }

  ThreadPool pool(threads);
  const std::string prefix = text_only ? kHfPrefixText : kHfPrefixMultimodal;
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const TensorSpec& spec : tensor_manifest(c)) {
    if (spec.hf_name.empty()) continue;  // GGUF-only (rope_freqs)
    const TensorView* src = model->source->find(spec.gguf_name);
    require(src != nullptr, in, ": tensor ", spec.gguf_name, " is missing");
    RowEditor editor = edit ? edit(spec.gguf_name) : RowEditor();
    if (nf4 && is_linear_weight(spec)) {
      const int64_t row = src->row_length(), rows = src->row_count();
      std::vector<float> values(static_cast<size_t>(row * rows));
      for (int64_t r = 0; r < rows; ++r) {
        row_to_f32(src->dtype, src->row(r), values.data() + r * row, row);
        if (editor) editor(r, values.data() + r * row, row);
      }
      add_bnb_nf4_tensors(writer, prefix + spec.hf_name, spec.shape, values, torch_dtype(dtype));
      continue;
    }
    writer.add_tensor(prefix + spec.hf_name, dtype, spec.shape, [src, dtype, editor, &pool](uint8_t* dst, size_t) {
      const int64_t row = src->row_length(), rows = src->row_count();
      const size_t out_row_bytes = dtype_row_bytes(dtype, row);
      pool.parallel_for(rows, [&](int64_t begin, int64_t end) {
        std::vector<float> values(static_cast<size_t>(row));
        for (int64_t r = begin; r < end; ++r) {
          row_to_f32(src->dtype, src->row(r), values.data(), row);
          if (editor) editor(r, values.data(), row);
          row_from_f32(dtype, values.data(), dst + static_cast<size_t>(r) * out_row_bytes, row);
        }
      }, 4);
    });
  }
  writer.write_sharded(out_dir, 5'000'000'000ull);  // HF's default shard limit
}

}  // namespace

void write_hf_model(const std::string& in, const std::string& out_dir, DType dtype, int threads,
                    const RowEditorFor& edit) {
  write_folder(in, out_dir, dtype, /*nf4=*/false, threads, edit);
}

void write_hf_model_bnb_nf4(const std::string& in, const std::string& out_dir, DType rest_dtype, int threads) {
  write_folder(in, out_dir, rest_dtype, /*nf4=*/true, threads, {});
}

}  // namespace facet
