#include "cli/lora_flags.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "model/model.h"
#include "train/adapter_runtime.h"

namespace facet::cli {

void add_lora_flags(CLI::App& cmd, LoraFlags& flags) {
  cmd.add_option("--lora", flags.lora,
                 "LoRA adapter to apply: a PEFT folder, adapter_model.safetensors or llama.cpp adapter .gguf, "
                 "optionally PATH:SCALE (repeatable; adapters add)");
  cmd.add_option("--lora-scaled", flags.lora_scaled, "LoRA adapter with a scale: --lora-scaled PATH SCALE (repeatable)");
}

void apply_lora_flags(Model& model, const LoraFlags& flags, bool verbose) {
  if (flags.lora.empty() && flags.lora_scaled.empty()) return;
  std::vector<std::pair<std::string, double>> wanted;
  for (const std::string& arg : flags.lora) wanted.push_back(train::parse_lora_argument(arg));
  for (const auto& p : flags.lora_scaled) wanted.push_back(p);
  std::vector<train::LoadedAdapter> adapters;
  for (const auto& [path, scale] : wanted) {
    adapters.push_back(train::load_adapter_for_inference(path, scale, model));
    if (verbose) {
      const train::LoraModel& l = *adapters.back().lora;
      int modules = 0;
      for (const auto& layer : l.layers)
        for (const auto& m : layer.modules) modules += m ? 1 : 0;
      std::fprintf(stderr, "lora: %s, %d modules, r %d, alpha %g%s, scale %g\n", path.c_str(), modules, l.config.rank,
                   l.config.alpha, l.config.use_rslora ? " (rsLoRA)" : "", scale);
    }
  }
  train::attach_adapters(model, adapters);
}

}  // namespace facet::cli
