#include "cli/generation_flags.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "model/weight_packing.h"
#include "util/error.h"

namespace facet::cli {

void add_generation_flags(CLI::App& cmd, GenerationFlags& flags) {
  cmd.add_option("-n,--n-predict", flags.max_tokens, "Tokens to generate at most")->check(CLI::NonNegativeNumber);
  cmd.add_option("--temp,--temperature", flags.sampling.temperature, "Sampling temperature (0 = greedy)");
  cmd.add_option("--top-k", flags.sampling.top_k, "Keep the k most likely tokens (0 = off)");
  cmd.add_option("--top-p", flags.sampling.top_p, "Nucleus sampling threshold (1 = off)");
  cmd.add_option("--min-p", flags.sampling.min_p, "Drop tokens below min-p x the top probability (0 = off)");
  cmd.add_option("-s,--seed", flags.sampling.seed, "Random seed");
  cmd.add_option("--repeat-penalty", flags.sampling.repeat_penalty,
                 "Penalize repeats of the last --repeat-last-n tokens (1 = off; e.g. 1.1)");
  cmd.add_option("--repeat-last-n", flags.sampling.repeat_last_n,
                 "Tokens the penalties look back over (default 64; 0 = off, -1 = the whole context)");
  cmd.add_option("--presence-penalty", flags.sampling.presence_penalty,
                 "Subtract from the logit of every token in that window (0 = off)");
  cmd.add_option("--frequency-penalty", flags.sampling.frequency_penalty,
                 "Subtract per occurrence in that window (0 = off)");
  cmd.add_option("-t,--threads", flags.threads, "Threads (default: all cores)");
  cmd.add_option("-c,--ctx-size", flags.ctx_size, "Context size in tokens")->check(CLI::NonNegativeNumber);
  cmd.add_flag("-v,--verbose", flags.verbose, "Print timings to stderr");
  add_lora_flags(cmd, flags.lora);
  cmd.add_option("--draft,--model-draft", flags.draft,
                 "Speculative decoding: a draft model with the same tokenizer (.gguf or HF folder), or \"lookup\" "
                 "(guess from earlier text in the context); the output is unchanged, only faster");
  cmd.add_option("--draft-max", flags.draft_max,
                 "Draft tokens checked per step at most (each step checks as many as the acceptance so far makes "
                 "worth it; --draft-min N --draft-max N: always N)")
      ->capture_default_str();
  cmd.add_option("--draft-min", flags.draft_min, "Draft tokens checked per step at least")->capture_default_str();
  cmd.add_flag("--no-draft", flags.no_draft, "Do not use the drafter found beside the model (NAME-assistant.gguf)");
  add_cache_type_flags(cmd, flags.cache_type_k, flags.cache_type_v);
}

void add_cache_type_flags(CLI::App& cmd, std::string& k, std::string& v) {
  cmd.add_option("--cache-type-k", k, "KV cache type for K (-ctk): f32, f16, bf16, q8_0, q4_0")->capture_default_str();
  cmd.add_option("--cache-type-v", v, "KV cache type for V (-ctv): f32, f16, bf16, q8_0, q4_0")->capture_default_str();
}

DraftSetup make_drafter(const GenerationFlags& flags, const Model& main, int64_t context_size) {
  DraftSetup setup;
  std::string draft = flags.draft;
  if (draft.empty() && !flags.no_draft) draft = default_drafter_path(main.path);
  if (draft.empty() || flags.no_draft) return setup;
  require(flags.draft_max >= 1 && flags.draft_max <= 64, "--draft-max must be between 1 and 64 (got ",
          flags.draft_max, ")");
  require(flags.draft_min >= 1 && flags.draft_min <= flags.draft_max, "--draft-min must be between 1 and --draft-max (",
          flags.draft_max, "), got ", flags.draft_min);
  setup.draft_min = flags.draft_min;
  setup.draft_max = flags.draft_max;
  if (draft == "lookup" || draft == "ngram" || draft == "prompt-lookup") {
    setup.drafter = std::make_unique<PromptLookupDrafter>();
    setup.description = "prompt lookup";
    return setup;
  }
  if (is_assistant_model(draft)) {
    setup.assistant = load_assistant(draft);
    setup.drafter = std::make_unique<AssistantDrafter>(*setup.assistant, main.config, flags.threads);
    setup.description = "Gemma 4 assistant " + draft;
    return setup;
  }
  setup.model = load_model_for_inference(draft);
  setup.drafter = std::make_unique<ModelDrafter>(*setup.model, main.config, context_size, flags.draft_max, flags.threads);
  setup.description = "draft model " + draft;
  return setup;
}

KvCacheTypes cache_types(const std::string& k, const std::string& v) {
  return {parse_kv_cache_type(k), parse_kv_cache_type(v)};
}

std::vector<std::string> expand_llama_short_flags(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    for (const auto& [short_name, long_name] : {std::pair{"-ctk", "--cache-type-k"}, std::pair{"-ctv", "--cache-type-v"}}) {
      const std::string s = short_name;
      if (arg == s) arg = long_name;
      else if (arg.rfind(s + "=", 0) == 0) arg = long_name + arg.substr(s.size());
    }
    out.push_back(arg);
  }
  return out;
}

std::string describe_timings(const GenerationResult& r) {
  const int64_t generated = static_cast<int64_t>(r.tokens.size());
  char line[256];
  std::snprintf(line, sizeof line,
                "prompt %lld tokens (%lld reused) in %.3f s (%.1f t/s), generated %lld tokens in %.3f s (%.1f t/s), "
                "stop: %s",
                static_cast<long long>(r.prompt_tokens), static_cast<long long>(r.reused_tokens), r.prefill_seconds,
                static_cast<double>(r.prefilled_tokens()) / std::max(1e-9, r.prefill_seconds),
                static_cast<long long>(generated), r.decode_seconds,
                static_cast<double>(generated) / std::max(1e-9, r.decode_seconds), stop_reason_name(r.stop_reason));
  std::string out = line;
  if (r.drafted_tokens > 0) {
    std::snprintf(line, sizeof line, ", drafts accepted %lld/%lld (%.0f%%), %.2f tokens per forward pass",
                  static_cast<long long>(r.accepted_tokens), static_cast<long long>(r.drafted_tokens),
                  100.0 * static_cast<double>(r.accepted_tokens) / static_cast<double>(r.drafted_tokens),
                  static_cast<double>(generated) / static_cast<double>(std::max<int64_t>(1, r.forward_steps)));
    out += line;
  }
  return out;
}

bool use_ansi(std::FILE* stream) {
  const char* no_color = std::getenv("NO_COLOR");
  return ::isatty(::fileno(stream)) && (no_color == nullptr || *no_color == '\0');
}

}  // namespace facet::cli
