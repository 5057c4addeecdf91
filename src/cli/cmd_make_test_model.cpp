// `facet make-test-model`: writes a random-weight Gemma 4 model (GGUF file or HF folder)
// from a generator config, for tests and benchmarks.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>

#include "cli/command.h"
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/assistant.h"
#include "model/audio.h"
#include "model/encoder_free.h"
#include "model/random_model.h"
#include "model/vision.h"
#include "util/error.h"

namespace facet::cli {
namespace {

struct MakeTestModelArgs {
  std::string config_path;
  std::string out;
  std::string dtype;
  std::optional<uint64_t> seed;
  bool dead_kv = false;
  bool multimodal = false;
  int threads = 0;
};

// The config's model_type ("" when unreadable: the model loader then says why).
std::string config_model_type(const std::string& path) {
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j.value("model_type", std::string()) : std::string();
}

// A generator config whose model_type is gemma4_assistant describes a drafter.
bool is_assistant_config(const std::string& path) { return config_model_type(path) == "gemma4_assistant"; }

// The command line's --dtype/--seed/--threads over the config's.
void apply_overrides(const MakeTestModelArgs& args, GeneratorOptions& options) {
  if (!args.dtype.empty()) options.dtype = parse_weight_dtype(args.dtype);
  if (args.seed) options.seed = *args.seed;
  options.threads = args.threads;
}

void report(const char* what, const MakeTestModelArgs& args, const GeneratedModel& m, const GeneratorOptions& o) {
  std::fprintf(stderr, "wrote %s%s: %lld tensors, %llu bytes, %s, seed %llu, %.2f s\n", what, args.out.c_str(),
               static_cast<long long>(m.tensors), static_cast<unsigned long long>(m.bytes),
               std::string(dtype_name(o.dtype)).c_str(), static_cast<unsigned long long>(o.seed), m.seconds);
}

// A gemma4_vision config: an HF vision_config plus "text_hidden_size" (the model the tower
// feeds), "seed" and "dtype". Written as an mmproj GGUF or an HF folder.
int run_make_test_vision(const MakeTestModelArgs& args, bool gguf) {
  std::ifstream in(args.config_path);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  require(j.contains("text_hidden_size") && j["text_hidden_size"].is_number_integer(), args.config_path,
          ": a gemma4_vision generator config needs \"text_hidden_size\" (the text model's width)");
  const VisionConfig config = VisionConfig::from_hf_json(j, j["text_hidden_size"].get<int>(), args.config_path);
  GeneratorOptions options;
  read_generator_keys(j, args.config_path, options);
  apply_overrides(args, options);
  report("vision tower ", args, gguf ? write_random_mmproj(config, options, args.out)
                                     : write_random_vision_hf(config, options, args.out), options);
  return 0;
}

// A gemma4_audio config: an HF audio_config plus "text_hidden_size", "seed" and "dtype".
// Written as an mmproj GGUF (projector gemma4a) or an HF folder.
int run_make_test_audio(const MakeTestModelArgs& args, bool gguf) {
  std::ifstream in(args.config_path);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  require(j.contains("text_hidden_size") && j["text_hidden_size"].is_number_integer(), args.config_path,
          ": a gemma4_audio generator config needs \"text_hidden_size\" (the text model's width)");
  const AudioConfig config = AudioConfig::from_hf_json(j, j["text_hidden_size"].get<int>(), args.config_path);
  GeneratorOptions options;
  read_generator_keys(j, args.config_path, options);
  apply_overrides(args, options);
  report("audio tower ", args, gguf ? write_random_audio_mmproj(config, options, args.out)
                                    : write_random_audio_hf(config, options, args.out), options);
  return 0;
}

// The encoder-free embedders (12B) a model generator config asks for: its vision_config /
// audio_config objects of the gemma4_unified kinds.
struct EncoderFreeParts {
  std::optional<EncoderFreeVisionConfig> vision;
  std::optional<EncoderFreeAudioConfig> audio;
};

EncoderFreeParts encoder_free_parts(const std::string& path, int text_hidden_size) {
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  EncoderFreeParts parts;
  if (!j.is_object()) return parts;
  if (j.contains("vision_config") && is_encoder_free_vision_config(j["vision_config"]))
    parts.vision = EncoderFreeVisionConfig::from_hf_json(j["vision_config"], text_hidden_size, path);
  if (j.contains("audio_config") && is_encoder_free_audio_config(j["audio_config"]))
    parts.audio = EncoderFreeAudioConfig::from_hf_json(j["audio_config"], text_hidden_size, path);
  return parts;
}

int run_make_test_model(const MakeTestModelArgs& args) {
  const bool gguf = args.out.size() >= 5 && args.out.compare(args.out.size() - 5, 5, ".gguf") == 0;
  if (config_model_type(args.config_path) == "gemma4_vision") return run_make_test_vision(args, gguf);
  if (config_model_type(args.config_path) == "gemma4_audio") return run_make_test_audio(args, gguf);
  if (is_assistant_config(args.config_path)) {
    AssistantGeneratorConfig g = load_assistant_generator_config(args.config_path);
    apply_overrides(args, g.options);
    report("drafter ", args, gguf ? write_random_assistant_gguf(g.assistant, g.options, args.out)
                                  : write_random_assistant_hf(g.assistant, g.options, args.out), g.options);
    return 0;
  }
  GeneratorConfig g = load_generator_config(args.config_path);
  apply_overrides(args, g.options);
  g.options.dead_kv = args.dead_kv;
  g.options.multimodal_layout = args.multimodal;
  const EncoderFreeParts parts = encoder_free_parts(args.config_path, g.model.hidden_size);
  if (parts.vision || parts.audio) {
    require(!gguf, args.config_path, ": the 12B's encoder-free embedders are written only in HF folders (llama.cpp's "
            "names for them are not known); give --out a folder, or drop vision_config/audio_config for a GGUF decoder");
    g.options.multimodal_layout = true;  // a Gemma4UnifiedForConditionalGeneration folder
    g.options.extra_hf_parts = [&parts, &g](nlohmann::json& config, SafetensorsWriter& writer) {
      config["architectures"] = nlohmann::json::array({"Gemma4UnifiedForConditionalGeneration"});
      config["model_type"] = "gemma4_unified";
      config["text_config"]["model_type"] = "gemma4_unified_text";
      config.erase("vision_config");
      config.erase("audio_config");
      add_random_encoder_free_parts(parts.vision ? &*parts.vision : nullptr, parts.audio ? &*parts.audio : nullptr,
                                    g.options, config, writer);
    };
  }
  report("", args, gguf ? write_random_gguf(g.model, g.options, args.out) : write_random_hf(g.model, g.options, args.out),
         g.options);
  return 0;
}

const CommandRegistration kMakeTestModel("make-test-model", [](CLI::App& parent) {
  auto args = std::make_shared<MakeTestModelArgs>();
  CLI::App* cmd = parent.add_subcommand("make-test-model", "Write a random-weight Gemma 4 model (or, from a gemma4_assistant config, a drafter; from a gemma4_vision or gemma4_audio config, an mmproj vision or audio tower) for tests");
  cmd->add_option("--config", args->config_path, "generator config (HF config.json keys + seed/dtype/vocab)")
      ->required();
  cmd->add_option("--out", args->out, "output: a .gguf file, or else an HF folder")->required();
  cmd->add_option("--dtype", args->dtype, "weight type: f32, f16 or bf16 (default: the config's, else f32)");
  cmd->add_option("--seed", args->seed, "random seed (default: the config's, else 0)");
  cmd->add_flag("--dead-kv", args->dead_kv, "HF output: also write the unused k/v/k_norm of KV-shared layers");
  cmd->add_flag("--multimodal", args->multimodal,
                "HF output: Gemma4ForConditionalGeneration layout (model.language_model. prefix)");
  cmd->add_option("--threads", args->threads, "worker threads (default: all cores)");
  return [args] { return run_make_test_model(*args); };
});

}  // namespace
}  // namespace facet::cli
