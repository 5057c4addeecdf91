// facet export --merge BASE --lora ADAPTER[:SCALE] [--lora ...] --out OUT [--outtype TYPE]
// Writes BASE with the adapters merged into its weights: a GGUF file when OUT ends in
// .gguf (TYPE: F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K), else a Hugging Face safetensors
// folder (TYPE: F32, F16, BF16). The merged model needs no --lora at inference.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "train/adapter_runtime.h"
#include "train/merge_export.h"

namespace facet::cli {
namespace {

struct ExportArgs {
  std::string base;
  std::vector<std::string> lora;
  std::vector<std::pair<std::string, double>> lora_scaled;
  std::string out;
  std::string outtype;
  int threads = 0;
};

int run_export(const ExportArgs& args) {
  train::MergeExportOptions options;
  options.base = args.base;
  for (const std::string& arg : args.lora) options.adapters.push_back(train::parse_lora_argument(arg));
  for (const auto& p : args.lora_scaled) options.adapters.push_back(p);
  options.out = args.out;
  options.outtype = args.outtype;
  options.threads = args.threads;
  const train::MergeExportReport r = train::export_merged(options);
  std::fprintf(stderr, "wrote %s (%s, %s): %zu adapter%s merged into %d weights\n", args.out.c_str(),
               r.format.c_str(), r.outtype.c_str(), options.adapters.size(), options.adapters.size() == 1 ? "" : "s",
               r.adapted_matrices);
  return 0;
}

const CommandRegistration kExport("export", [](CLI::App& parent) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd = parent.add_subcommand("export", "Write a model with LoRA adapters merged into its weights");
  cmd->add_option("--merge", args->base, "base model: a .gguf file or an HF folder")->required();
  cmd->add_option("--lora", args->lora, "adapter to merge, PATH or PATH:SCALE (PEFT folder, .safetensors or .gguf; repeatable)");
  cmd->add_option("--lora-scaled", args->lora_scaled, "adapter to merge with a scale: --lora-scaled PATH SCALE");
  cmd->add_option("-o,--out", args->out, "output: FILE.gguf, or a folder for HF safetensors")->required();
  cmd->add_option("--outtype", args->outtype,
                  "weight type: F32, F16, BF16 (any output), Q8_0, Q4_0, Q4_K_M, Q6_K (.gguf only); "
                  "default: the base's type, F16 for a quantized base");
  cmd->add_option("-t,--threads", args->threads, "worker threads (default: all cores)");
  return [args] { return run_export(*args); };
});

}  // namespace
}  // namespace facet::cli
