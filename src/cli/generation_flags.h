// Flags shared by `facet run` and `facet chat`: sampling, limits, threads, context.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "cli/lora_flags.h"
#include "engine/generation.h"
#include "sampling/sampler.h"

namespace CLI {
class App;
}

namespace facet::cli {

struct GenerationFlags {
  SamplingOptions sampling;
  int64_t max_tokens = -1;  // -1: the command's default
  int threads = 0;
  int64_t ctx_size = 0;     // 0: the command's default
  bool verbose = false;
  LoraFlags lora;           // applied with apply_lora_flags after the model is loaded
};

// -n, --temp, --top-k, --top-p, --min-p, --seed, --threads, --ctx-size, --verbose, --lora,
// --lora-scaled.
void add_generation_flags(CLI::App& command, GenerationFlags& flags);

// One line of counts and speeds ("prompt 12 tokens (3 reused) in 0.10 s ...") for -v.
std::string describe_timings(const GenerationResult& result);

// Whether to colour output written to `stream` (a terminal, and NO_COLOR unset).
bool use_ansi(std::FILE* stream);

}  // namespace facet::cli
