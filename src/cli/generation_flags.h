// Flags shared by `facet run` and `facet chat`: sampling, limits, threads, context.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

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
  std::string cache_type_k = "f16";  // KV cache element types, as llama.cpp's -ctk / -ctv
  std::string cache_type_v = "f16";
};

// -n, --temp, --top-k, --top-p, --min-p, --seed, --threads, --ctx-size, --verbose,
// -ctk/--cache-type-k, -ctv/--cache-type-v.
void add_generation_flags(CLI::App& command, GenerationFlags& flags);
// --cache-type-k/--cache-type-v on any command (facet info uses them for its memory plan).
void add_cache_type_flags(CLI::App& command, std::string& k, std::string& v);
// The KV cache types named by the flags; throws Error for an unknown name.
KvCacheTypes cache_types(const std::string& k, const std::string& v);
inline KvCacheTypes cache_types(const GenerationFlags& flags) { return cache_types(flags.cache_type_k, flags.cache_type_v); }

// llama.cpp's multi-letter short flags (-ctk, -ctv), which CLI11 cannot declare, spelled
// as their long names; every other argument is returned unchanged.
std::vector<std::string> expand_llama_short_flags(int argc, char** argv);

// One line of counts and speeds ("prompt 12 tokens (3 reused) in 0.10 s ...") for -v.
std::string describe_timings(const GenerationResult& result);

// Whether to colour output written to `stream` (a terminal, and NO_COLOR unset).
bool use_ansi(std::FILE* stream);

}  // namespace facet::cli
