// Flags shared by `facet run` and `facet chat`: sampling, limits, threads, context.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

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
  std::string cache_type_k = "f16";  // KV cache element types, as llama.cpp's -ctk / -ctv
  std::string cache_type_v = "f16";
  std::string draft;        // speculative decoding: a draft model's path, or "lookup" (prompt lookup)
  int draft_min = 1;        // draft tokens per step at least (when the drafter has that many)
  int draft_max = 8;        // draft tokens per step at most
  bool no_draft = false;    // --no-draft: not even the drafter found beside the model
};

// --draft: the drafter it names (none without the flag) and the model a draft-model
// drafter runs, kept alive together.
struct DraftSetup {
  std::unique_ptr<Model> model;
  std::unique_ptr<AssistantModel> assistant;
  std::string description;  // "" without drafting; else what drafts, for -v
  std::unique_ptr<Drafter> drafter;
  int draft_min = 1;
  int draft_max = 0;
  // Positions the main model's KV cache must be able to take back (rejected drafts).
  int64_t rewind_tokens() const { return drafter ? draft_max : 0; }
  void apply(GenerationOptions& options) const {
    options.drafter = drafter.get();
    options.draft_min = draft_min;
    options.draft_max = draft_max;
  }
};
// Loads the --draft model (a Gemma 4 assistant, checked against `main`'s widths, or an
// ordinary model with the same vocabulary) or makes the prompt lookup drafter; throws Error
// for a bad --draft-min/--draft-max or an unusable model. Without --draft (and without --no-draft) a
// drafter shipped beside the main model is used: see default_drafter_path.
DraftSetup make_drafter(const GenerationFlags& flags, const Model& main, int64_t context_size);



// -n, --temp, --top-k, --top-p, --min-p, --seed, --threads, --ctx-size, --verbose, --lora,
// --lora-scaled, -ctk/--cache-type-k, -ctv/--cache-type-v, --draft, --draft-max.
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
