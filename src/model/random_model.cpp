#include "model/random_model.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "formats/gguf.h"
#include "model/config_files.h"
#include "model/model_writer.h"
#include "model/random_init.h"
#include "model/test_vocabulary.h"
#include "tensor/convert.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

using nlohmann::json;

// Elements generated per step: big enough to amortise the scheduling, small enough that
// the float scratch buffer stays in L2.
constexpr int64_t kChunk = 16384;

TestVocabulary model_vocabulary(const ModelConfig& c, const GeneratorOptions& options) {
  TestVocabulary v = options.hf_tokenizer_json.empty()
                         ? synthetic_vocabulary(c.vocab_size)
                         : vocabulary_from_hf_tokenizer(options.hf_tokenizer_json, c.vocab_size);
  v.bos_id = c.bos_id;  // the model config is the source of truth for these ids
  v.eos_id = c.eos_id;
  v.pad_id = c.pad_id;
  return v;
}

#if defined(__x86_64__)
// F16C converts 8 floats per instruction with the same round-to-nearest-even as
// f32_to_f16; the portable per-value conversion would dominate F16 generation time.
[[gnu::target("f16c,avx")]] void f32_to_f16_f16c(const float* src, uint8_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i halves = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), halves);
  }
  if (i < n) row_from_f32(DType::F16, src + i, dst + 2 * i, n - i);
}
#endif

// row_from_f32 with a fast path for F16.
void store_values(DType dtype, const float* src, uint8_t* dst, int64_t n) {
#if defined(__x86_64__)
  // Every x86 CPU with AVX2 has F16C; clang's __builtin_cpu_supports has no "f16c" name.
  static const bool has_f16c = __builtin_cpu_supports("avx2");
  if (dtype == DType::F16 && has_f16c) return f32_to_f16_f16c(src, dst, n);
#endif
  row_from_f32(dtype, src, dst, n);
}

}  // namespace

GeneratedModel generated_model_report(std::vector<std::string> files, int64_t tensors,
                                      std::chrono::steady_clock::time_point start) {
  GeneratedModel out;
  out.files = std::move(files);
  for (const std::string& f : out.files) out.bytes += std::filesystem::file_size(f);
  out.tensors = tensors;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

void create_output_folder(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  require(!ec && std::filesystem::is_directory(dir), dir, ": cannot create the output folder");
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  require(out.good(), path, ": cannot write");
}

DType parse_weight_dtype(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (n == "f32" || n == "float32") return DType::F32;
  if (n == "f16" || n == "float16") return DType::F16;
  if (n == "bf16" || n == "bfloat16") return DType::BF16;
  fail("unknown weight dtype \"", name, "\" (expected f32, f16 or bf16)");
}

void read_generator_keys(const json& j, const std::string& path, GeneratorOptions& options) {
  if (j.contains("seed")) {
    require(j["seed"].is_number_unsigned(), path, ": \"seed\" must be a non-negative integer");
    options.seed = j["seed"].get<uint64_t>();
  }
  if (j.contains("dtype")) {
    require(j["dtype"].is_string(), path, ": \"dtype\" must be a string");
    options.dtype = parse_weight_dtype(j["dtype"].get<std::string>());
  }
}

GeneratorConfig load_generator_config(const std::string& path) {
  json j = read_json_object(path);

  GeneratorConfig g;
  json& text = j.contains("text_config") && j["text_config"].is_object() ? j["text_config"] : j;
  if (!j.contains("model_type") && !text.contains("model_type")) text["model_type"] = "gemma4_text";
  if (!text.contains("enable_moe_block") && text.contains("num_experts") && text["num_experts"].is_number_integer() &&
      text["num_experts"].get<int64_t>() > 0)
    text["enable_moe_block"] = true;
  g.model = ModelConfig::from_hf_json(j, path);

  const std::filesystem::path file(path);
  g.model.name = j.value("name", file.stem().string());
  read_generator_keys(j, path, g.options);
  if (j.contains("vocab") && j["vocab"].is_object() && j["vocab"].contains("hf_tokenizer_json")) {
    const json& t = j["vocab"]["hf_tokenizer_json"];
    require(t.is_string(), path, ": vocab.hf_tokenizer_json must be a path");
    g.options.hf_tokenizer_json = (file.parent_path() / t.get<std::string>()).lexically_normal().string();
  }
  return g;
}

void produce_tensor(const TensorSpec& spec, const ModelConfig& c, const GeneratorOptions& options, DType storage,
                    uint8_t* dst, ThreadPool& pool) {
  int64_t numel = 1;
  for (int64_t d : spec.shape) numel *= d;
  const size_t storage_bytes = dtype_row_bytes(storage, 1);
  if (spec.role == TensorRole::RopeFreqs) {
    require(storage == DType::F32, "rope_freqs.weight must be stored as F32");
    const std::vector<float> values = rope_freqs_values(c);
    std::copy(values.begin(), values.end(), reinterpret_cast<float*>(dst));
    return;
  }
  const InitRule rule = init_rule(spec, c);
  const uint64_t key = tensor_key(options.seed, spec.gguf_name);
  const bool round_first = storage != options.dtype;  // GGUF's F32 copy of a narrower weight
  const int64_t n_chunks = (numel + kChunk - 1) / kChunk;
  pool.parallel_for(n_chunks, [&](int64_t begin, int64_t end) {
    std::vector<float> values(kChunk);
    std::vector<uint16_t> narrow(round_first ? kChunk : 0);
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      const int64_t first = chunk * kChunk, count = std::min(kChunk, numel - first);
      fill_random(rule, key, first, count, values.data());
      if (round_first && options.dtype != DType::F32) {
        row_from_f32(options.dtype, values.data(), narrow.data(), count);
        row_to_f32(options.dtype, narrow.data(), values.data(), count);
      }
      store_values(storage, values.data(), dst + static_cast<size_t>(first) * storage_bytes, count);
    }
  });
}

GeneratedModel write_random_gguf(const ModelConfig& c, const GeneratorOptions& options, const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  ThreadPool pool(options.threads);
  GgufWriter writer;
  write_gguf_metadata(writer, c, options.dtype);
  write_gguf_tokenizer(writer, model_vocabulary(c, options));

  const std::vector<TensorSpec> manifest = tensor_manifest(c);
  for (const TensorSpec& spec : manifest) {
    // llama.cpp keeps 1-D tensors (norms, scales, rope_freqs) in F32.
    const DType storage = spec.shape.size() == 1 ? DType::F32 : options.dtype;
    writer.add_tensor(spec.gguf_name, storage, spec.shape, [&, storage](uint8_t* dst, size_t) {
      produce_tensor(spec, c, options, storage, dst, pool);
    });
  }
  writer.write(path);
  return generated_model_report({path}, static_cast<int64_t>(manifest.size()), start);
}

}  // namespace facet
