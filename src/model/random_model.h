// Random-weight Gemma 4 models for tests and benchmarks: every tensor of the manifest,
// initialised by the recipe in random_init.h, written as a GGUF file (with metadata and a
// tokenizer vocabulary) or as an HF folder (config.json, tokenizer.json, safetensors).
//
// Values depend only on (seed, tensor, element index) and are rounded to the weight dtype
// before they are stored, so the GGUF and HF outputs of one seed hold the same numbers
// (GGUF keeps 1-D tensors in F32, as llama.cpp does; the F32 value is the rounded one).
// Tensors are produced in parallel straight into the writers' mapped output files.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/model_config.h"
#include "model/tensor_manifest.h"
#include "tensor/dtype.h"

namespace facet {

class SafetensorsWriter;
class ThreadPool;

struct GeneratorOptions {
  DType dtype = DType::F32;        // weight type: F32, F16 or BF16
  uint64_t seed = 0;
  std::string hf_tokenizer_json;   // copy this tokenizer; empty: a synthetic vocabulary
  bool dead_kv = false;            // HF: also write unused k/v/k_norm on KV-shared layers
  bool multimodal_layout = false;  // HF: Gemma4ForConditionalGeneration, "model.language_model."
  int threads = 0;                 // 0: one per hardware thread
  // HF: called with config.json's object and the safetensors writer before either is written,
  // to add parts beside the decoder (the 12B's encoder-free embedders).
  std::function<void(nlohmann::json& config, SafetensorsWriter& writer)> extra_hf_parts;
};

// A generator config file: an HF text config plus generator-only keys ("name", "seed",
// "dtype", "vocab": {"hf_tokenizer_json": PATH relative to the file}). "model_type" may be
// left out, and "num_experts" alone turns the MoE block on.
struct GeneratorConfig {
  ModelConfig model;
  GeneratorOptions options;
};
GeneratorConfig load_generator_config(const std::string& path);
// The generator-only keys "seed" and "dtype" of a generator config `j` (read from `path`),
// over `options`; shared by model and drafter configs.
void read_generator_keys(const nlohmann::json& j, const std::string& path, GeneratorOptions& options);

struct GeneratedModel {
  int64_t tensors = 0;
  uint64_t bytes = 0;  // of every file written
  double seconds = 0;
  std::vector<std::string> files;
};

// The report of a generation that began at `start` and wrote `files` (their sizes summed)
// holding `tensors` tensors; shared by the writers of models, drafters and towers.
GeneratedModel generated_model_report(std::vector<std::string> files, int64_t tensors,
                                      std::chrono::steady_clock::time_point start);
// Creates the folder an HF output goes to (parents included); throws Error when it cannot.
void create_output_folder(const std::string& dir);
// Writes `text` to `path` (config.json, tokenizer.json); throws Error when it cannot.
void write_text_file(const std::string& path, const std::string& text);
// An HF config's "torch_dtype" for a weight dtype ("float32", "float16", "bfloat16").
const char* torch_dtype_name(DType dtype);

GeneratedModel write_random_gguf(const ModelConfig& config, const GeneratorOptions& options,
                                 const std::string& path);
GeneratedModel write_random_hf(const ModelConfig& config, const GeneratorOptions& options,
                               const std::string& dir);

// The tensors of the HF output, in manifest order: the manifest's HF tensors, plus with
// `dead_kv` the unused k_proj/k_norm/v_proj of KV-shared layers (seeded under GGUF-style
// names blk.N.attn_k.weight etc., which no GGUF output contains).
std::vector<TensorSpec> hf_tensor_specs(const ModelConfig& config, bool dead_kv);

// The values of one tensor, rounded to `options.dtype` and stored as `storage` (the weight
// dtype, or F32 for GGUF's 1-D tensors) into dst (numel × storage size bytes).
void produce_tensor(const TensorSpec& spec, const ModelConfig& config, const GeneratorOptions& options,
                    DType storage, uint8_t* dst, ThreadPool& pool);

// "f32" / "f16" / "bf16" (any case) to a DType; throws Error otherwise.
DType parse_weight_dtype(const std::string& name);

}  // namespace facet
