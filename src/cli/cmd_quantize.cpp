// `facet quantize IN OUT TYPE`: writes a GGUF copy of a model (GGUF file or HF folder) with
// its weight matrices in TYPE (F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "model/quantize_model.h"

namespace facet::cli {
namespace {

struct QuantizeArgs {
  std::string in;
  std::string out;
  std::string type;
  int threads = 0;
};

int run_quantize(const QuantizeArgs& args) {
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
  cmd->add_option("out", args->out, "output .gguf file")->required();
  cmd->add_option("type", args->type, "F32, F16, BF16, Q8_0, Q4_0, Q4_K_M or Q6_K")->required();
  cmd->add_option("--threads", args->threads, "worker threads (default: all cores)");
  return [args] { return run_quantize(*args); };
});

}  // namespace
}  // namespace facet::cli
