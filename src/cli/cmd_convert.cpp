// facet convert HF_FOLDER OUT.gguf [--outtype auto|f32|f16|bf16|q8_0]
// The counterpart of llama.cpp's convert_hf_to_gguf.py: a Hugging Face Gemma 4 folder
// (config.json, *.safetensors, tokenizer.json, chat template) becomes one GGUF with the
// tensor names and gemma4.* / tokenizer.ggml.* keys llama.cpp's converter writes (spec §6.2),
// plus tokenizer.chat_template. The writing is `facet quantize`'s (one code path for both);
// this command only restricts the input to HF folders and the types to the lossless or
// near-lossless ones a conversion offers. "auto" keeps the checkpoint's own type
// (bf16 stays bf16, f16 stays f16, anything else becomes f32).
#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "engine/model_files.h"
#include "model/model.h"
#include "model/quantize_model.h"
#include "model/tensor_manifest.h"
#include "util/error.h"

namespace facet::cli {
namespace {

struct ConvertArgs {
  std::string in;
  std::string out;
  std::string outtype = "auto";
  int threads = 0;
};

// The type of the checkpoint's matrices, for --outtype auto.
QuantScheme checkpoint_scheme(const std::string& folder) {
  auto model = load_model(folder);
  for (const TensorSpec& spec : tensor_manifest(model->config)) {
    const TensorView* t = model->source->find(spec.gguf_name);
    if (t == nullptr || t->rank() < 2) continue;
    if (t->dtype == DType::BF16) return QuantScheme::BF16;
    if (t->dtype == DType::F16) return QuantScheme::F16;
    return QuantScheme::F32;
  }
  return QuantScheme::F32;
}

QuantScheme parse_outtype(const std::string& name, const std::string& folder) {
  std::string lower = name;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "auto") return checkpoint_scheme(folder);
  if (lower == "f32") return QuantScheme::F32;
  if (lower == "f16") return QuantScheme::F16;
  if (lower == "bf16") return QuantScheme::BF16;
  if (lower == "q8_0") return QuantScheme::Q8_0;
  fail("--outtype: unknown type '", name, "' (expected auto, f32, f16, bf16 or q8_0; for Q4_0, Q4_K_M ... use ",
       "facet quantize)");
}

int run_convert(const ConvertArgs& args) {
  std::error_code ec;
  require(std::filesystem::is_directory(args.in, ec), args.in,
          " is not a folder: facet convert reads a Hugging Face model folder (to re-type a .gguf use facet quantize)");
  require(std::filesystem::is_regular_file(std::filesystem::path(args.in) / "tokenizer.json", ec), args.in,
          " has no tokenizer.json: a GGUF carries its tokenizer, so convert needs one");
  const QuantScheme scheme = parse_outtype(args.outtype, args.in);
  const std::string chat_template = read_chat_template(args.in).value_or("");
  const QuantizeReport r = quantize_model(args.in, args.out, scheme, args.threads, chat_template);
  std::fprintf(stderr, "wrote %s (%s%s): %lld tensors, %.1f MB, %.2f s\n", args.out.c_str(),
               quant_scheme_name(scheme).c_str(), chat_template.empty() ? ", no chat template" : ", chat template",
               static_cast<long long>(r.tensors), static_cast<double>(r.bytes_out) / 1e6, r.seconds);
  return 0;
}

const CommandRegistration kConvert("convert", [](CLI::App& parent) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* cmd = parent.add_subcommand("convert", "Convert a Hugging Face model folder to a GGUF file");
  cmd->add_option("in", args->in, "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)")->required();
  cmd->add_option("out", args->out, "output .gguf file")->required();
  cmd->add_option("--outtype", args->outtype, "auto (the checkpoint's type), f32, f16, bf16 or q8_0")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "worker threads (default: all cores)");
  return [args] { return run_convert(*args); };
});

}  // namespace
}  // namespace facet::cli
