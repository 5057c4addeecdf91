// `facet quantize IN OUT TYPE`: writes a GGUF copy of a model (GGUF file or HF folder) with
// its weight matrices in TYPE (F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K), or, for TYPE NF4,
// an HF folder OUT in bitsandbytes' NF4 layout (a QLoRA base like Unsloth's -bnb-4bit uploads).
#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <optional>

#include "cli/command.h"
#include "model/hf_export.h"
#include "model/quantize_model.h"
#include "util/error.h"

namespace facet::cli {
namespace {

struct QuantizeArgs {
  std::string in;
  std::string out;
  std::string type;
  std::string unquantized_type = "BF16";
  int threads = 0;
};

bool is_nf4(std::string type) {
  for (char& c : type) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return type == "NF4";
}

int run_quantize_nf4(const QuantizeArgs& args) {
  std::string rest = args.unquantized_type;
  for (char& c : rest) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::optional<DType> rest_dtype = dtype_from_name(rest);
  require(rest_dtype == DType::F32 || rest_dtype == DType::F16 || rest_dtype == DType::BF16,
          "--unquantized-type must be F32, F16 or BF16 (got '", args.unquantized_type, "')");
  write_hf_model_bnb_nf4(args.in, args.out, *rest_dtype, args.threads);
  std::fprintf(stderr, "wrote %s (bitsandbytes NF4, double quantization, block 64; other tensors %s)\n",
               args.out.c_str(), rest.c_str());
  return 0;
}

int run_quantize(const QuantizeArgs& args) {
  if (is_nf4(args.type)) return run_quantize_nf4(args);
  const QuantScheme scheme = parse_quant_scheme(args.type);
  const QuantizeReport r = quantize_model(args.in, args.out, scheme, args.threads);
  std::string types;
  for (const auto& [name, count] : r.tensors_per_type) types += " " + name + "×" + std::to_string(count);
  std::fprintf(stderr, "wrote %s (%s): %lld tensors (%s), %.1f MB -> %.1f MB, %.2f s\n", args.out.c_str(),
               quant_scheme_name(scheme).c_str(), static_cast<long long>(r.tensors), types.c_str() + 1,
               static_cast<double>(r.bytes_in) / 1e6, static_cast<double>(r.bytes_out) / 1e6, r.seconds);
  return 0;
}

const CommandRegistration kQuantize("quantize", [](CLI::App& parent) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = parent.add_subcommand("quantize", "Write a GGUF copy of a model with quantized weights");
  cmd->add_option("in", args->in, "input model: a .gguf file or an HF folder")->required();
  cmd->add_option("out", args->out, "output .gguf file (an HF folder for NF4)")->required();
  cmd->add_option("type", args->type, "F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K or NF4 (bitsandbytes)")->required();
  cmd->add_option("--unquantized-type", args->unquantized_type,
                  "NF4 only: type of the tensors bitsandbytes leaves unquantized (F32, F16, BF16; default BF16)");
  cmd->add_option("--threads", args->threads, "worker threads (default: all cores)");
  return [args] { return run_quantize(*args); };
});

}  // namespace
}  // namespace facet::cli
