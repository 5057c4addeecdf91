// The models a server can serve: every .gguf file and Hugging Face folder in the models
// directory plus the paths given with --model, listed by name (file stem / folder name).
// A model is loaded when a request first names it and unloaded when its keep-alive runs
// out and no request is using it. Request names are only ever compared with the listed
// names, never turned into paths, so no name can reach outside the directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_types.h"
#include "engine/draft.h"
#include "engine/scheduler.h"
#include "model/model.h"
#include "server/media_input.h"
#include "server/server_options.h"
#include "tokenizer/tokenizer.h"

namespace facet::server {

class ServerLoras;

struct ModelEntry {
  std::string name;       // "stem:latest" (Ollama style; clients send it back)
  std::string path;
  bool is_gguf = true;    // else an HF folder
  int64_t size = 0;       // bytes on disk
  int64_t modified_ns = 0;
};

// A model in memory with its scheduler. Shared by the requests using it.
struct LoadedModel {
  LoadedModel(ModelEntry e, Tokenizer t) : entry(std::move(e)), tokenizer(std::move(t)) {}

  ModelEntry entry;
  std::unique_ptr<Model> model;
  Tokenizer tokenizer;
  chat::ChatRules rules = chat::ChatRules::Large;
  std::optional<std::string> chat_template;
  // Speculative decoding (null: none); declared before the scheduler, which uses them.
  std::unique_ptr<AssistantModel> assistant;
  std::unique_ptr<Drafter> drafter;
  std::unique_ptr<Scheduler> scheduler;
  // The projector's vision and audio towers (null: the model takes neither images nor
  // audio), see media_input.h.
  std::unique_ptr<MediaEncoder> media;
  int64_t context_size = 0;
  double load_seconds = 0;
  // The server's --lora adapters when they are attached to this model (a --model one),
  // else null. The scheduler sets each request's scales before its forward passes.
  std::shared_ptr<ServerLoras> loras;

  // Every token's text as the output would show it (byte tokens as their byte), built on
  // first use: constrained decoding checks candidates by text.
  const std::vector<std::string>& token_texts();

 private:
  std::once_flag texts_once_;
  std::vector<std::string> token_texts_;
};

// What /api/ps shows of a loaded model.
struct LoadedInfo {
  ModelEntry entry;
  int64_t context_size = 0;
  std::optional<int64_t> expires_ns;  // nullopt: kept forever
};

// "gemma4", "gemma4:latest", "library/gemma4:latest" all name "gemma4"; nullopt for names
// that could never be ours (path separators, "..", control characters, empty).
std::optional<std::string> normalize_model_name(std::string_view requested);

class ModelRegistry {
 public:
  explicit ModelRegistry(const ServerOptions& options);
  ~ModelRegistry();

  std::vector<ModelEntry> list() const;  // scans the directory now
  // 400 for an invalid name, 404 when no model has it.
  ModelEntry find(std::string_view requested) const;

  // The loaded model (loading it now if needed; `load_seconds` gets the time this call
  // spent loading, 0 when it was already in memory).
  std::shared_ptr<LoadedModel> acquire(const ModelEntry& entry, double* load_seconds);
  // Sets when the model may be unloaded: `keep_alive_seconds` from now; negative = never,
  // 0 = as soon as no request uses it.
  void touch(const std::string& name, double keep_alive_seconds);
  bool unload(const std::string& name);  // false when it was not loaded
  // Unloads models whose keep-alive has run out and that no request holds.
  void sweep();
  std::vector<LoadedInfo> loaded() const;
  // The --lora adapters (ids, paths, server-wide scales); empty when none were given.
  ServerLoras& loras() const { return *loras_; }
  // Loads every --model model that gets the --lora adapters now, so that an adapter that
  // does not fit fails at start-up (Error) rather than at the first request.
  void preload_adapted_models();
  // The projector (vision and/or audio towers) that goes with a model ("" = none): --mmproj for the --model
  // model, else the one found beside the model file.
  std::string mmproj_for(const ModelEntry& entry) const;
  // Scheduler counters summed over loaded models.
  SchedulerStats stats() const;

 private:
  // The drafter the options give this model (none, prompt lookup or a Gemma 4 assistant).
  void attach_drafter(LoadedModel& loaded, SchedulerOptions& so) const;
  struct Slot {
    std::shared_ptr<LoadedModel> model;
    std::optional<std::chrono::system_clock::time_point> expires;  // nullopt: forever
  };

  bool gets_adapters(const ModelEntry& entry) const;

  const ServerOptions& options_;
  std::shared_ptr<ServerLoras> loras_;
  mutable std::mutex mutex_;
  std::mutex load_mutex_;  // one load at a time (loads are I/O- and memory-heavy)
  std::vector<std::pair<std::string, Slot>> slots_;
};

}  // namespace facet::server
