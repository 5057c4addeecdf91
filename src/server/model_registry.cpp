#include "server/model_registry.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "engine/media_prompt.h"
#include "engine/model_files.h"
#include "model/weight_packing.h"
#include "server/http_util.h"
#include "server/lora_adapters.h"
#include "util/error.h"

namespace facet::server {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kDefaultTag = ":latest";

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int64_t mtime_ns(const fs::path& path) {
  std::error_code ec;
  const auto t = fs::last_write_time(path, ec);
  if (ec) return 0;
  // The file clock's epoch is unspecified; shift by the two clocks' current readings.
  const auto age = fs::file_time_type::clock::now() - t;
  const auto sys = std::chrono::system_clock::now() - std::chrono::duration_cast<std::chrono::system_clock::duration>(age);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(sys.time_since_epoch()).count();
}

int64_t folder_size(const fs::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& item : fs::directory_iterator(dir, ec))
    if (item.is_regular_file(ec)) total += static_cast<int64_t>(item.file_size(ec));
  return total;
}

// A .gguf file or a folder with config.json; nullopt for anything else.
std::optional<ModelEntry> entry_for(const fs::path& path) {
  std::error_code ec;
  ModelEntry e;
  e.path = path.string();
  e.modified_ns = mtime_ns(path);
  if (fs::is_regular_file(path, ec) && path.extension() == ".gguf") {
    e.name = path.stem().string();
    e.is_gguf = true;
    e.size = static_cast<int64_t>(fs::file_size(path, ec));
  } else if (fs::is_directory(path, ec) && fs::exists(path / "config.json", ec)) {
    e.name = path.filename().string();
    e.is_gguf = false;
    e.size = folder_size(path);
  } else {
    return std::nullopt;
  }
  if (e.name.find(':') == std::string::npos) e.name += kDefaultTag;
  return e;
}

}  // namespace

std::optional<std::string> normalize_model_name(std::string_view requested) {
  std::string name = lower(requested);
  // Registry prefixes clients add ("library/gemma4", "registry.ollama.ai/library/gemma4").
  for (std::string_view prefix : {"registry.ollama.ai/library/", "library/"})
    if (name.starts_with(prefix)) name.erase(0, prefix.size());
  if (name.empty() || name.size() > 256 || name.front() == '.') return std::nullopt;
  if (name.find("..") != std::string::npos) return std::nullopt;
  for (unsigned char c : name)
    if (c < 0x20 || c == '/' || c == '\\' || c == 0x7f) return std::nullopt;
  if (name.find(':') == std::string::npos) name += kDefaultTag;
  return name;
}

const std::vector<std::string>& LoadedModel::token_texts() {
  std::call_once(texts_once_, [this] { token_texts_ = facet::token_texts(tokenizer); });
  return token_texts_;
}

ModelRegistry::ModelRegistry(const ServerOptions& options)
    : options_(options), loras_(std::make_shared<ServerLoras>(options)) {}

bool ModelRegistry::gets_adapters(const ModelEntry& entry) const {
  return loras_->size() > 0 &&
         std::find(options_.model_paths.begin(), options_.model_paths.end(), entry.path) != options_.model_paths.end();
}

void ModelRegistry::preload_adapted_models() {
  if (loras_->size() == 0) return;
  require(!options_.model_paths.empty(), "--lora needs --model: adapters apply to the models given with --model");
  for (const ModelEntry& entry : list())
    if (gets_adapters(entry)) acquire(entry, nullptr);
}
ModelRegistry::~ModelRegistry() = default;

std::vector<ModelEntry> ModelRegistry::list() const {
  std::vector<ModelEntry> out;
  auto add = [&out](const fs::path& path, bool in_folder) {
    // A projector beside the models (mmproj-NAME.gguf, NAME-mmproj.gguf) is not a model.
    const std::string stem = path.stem().string();
    if (in_folder && path.extension() == ".gguf" && (stem.starts_with("mmproj") || stem.ends_with("-mmproj"))) return;
    std::optional<ModelEntry> e = entry_for(path);
    if (!e) return;
    for (const ModelEntry& have : out)
      if (lower(have.name) == lower(e->name)) return;  // the first of two same names wins
    out.push_back(std::move(*e));
  };
  for (const std::string& path : options_.model_paths) add(path, false);
  std::error_code ec;
  if (!options_.models_dir.empty() && fs::is_directory(options_.models_dir, ec)) {
    std::vector<fs::path> items;
    for (const auto& item : fs::directory_iterator(options_.models_dir, ec)) items.push_back(item.path());
    std::sort(items.begin(), items.end());
    for (const fs::path& p : items) add(p, true);
  }
  return out;
}

ModelEntry ModelRegistry::find(std::string_view requested) const {
  if (requested.empty()) throw_http(400, "model is required");
  const std::optional<std::string> name = normalize_model_name(requested);
  if (!name) throw_http(400, "invalid model name \"" + std::string(requested) + "\"");
  for (ModelEntry& e : list())
    if (lower(e.name) == *name) return e;
  throw_http(404, "model '" + std::string(requested) + "' not found", "model_not_found");
}

void ModelRegistry::attach_drafter(LoadedModel& loaded, SchedulerOptions& so) const {
  if (options_.no_draft) return;
  so.draft_min = options_.draft_min;
  so.draft_max = options_.draft_max;
  if (options_.draft == "lookup" || options_.draft == "ngram" || options_.draft == "prompt-lookup") {
    loaded.drafter = std::make_unique<PromptLookupDrafter>();
  } else {
    const std::string path = options_.draft.empty() ? default_drafter_path(loaded.entry.path) : options_.draft;
    if (path.empty()) return;
    loaded.assistant = load_assistant(path);
    try {
      loaded.drafter = std::make_unique<AssistantDrafter>(*loaded.assistant, loaded.model->config, options_.threads);
    } catch (const Error& e) {  // a --draft for another of the served models: this one runs without
      std::fprintf(stderr, "facet serve: %s: no drafting (%s)\n", loaded.entry.name.c_str(), e.what());
      loaded.assistant.reset();
      return;
    }
  }
  so.drafter = loaded.drafter.get();
}

std::shared_ptr<LoadedModel> ModelRegistry::acquire(const ModelEntry& entry, double* load_seconds) {
  if (load_seconds) *load_seconds = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [name, slot] : slots_)
      if (name == entry.name) return slot.model;
  }
  std::lock_guard<std::mutex> loading(load_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);  // another request may have loaded it meanwhile
    for (auto& [name, slot] : slots_)
      if (name == entry.name) return slot.model;
  }
  const auto start = std::chrono::steady_clock::now();
  auto loaded = std::make_shared<LoadedModel>(entry, load_model_tokenizer(entry.path));
  loaded->model = load_model_for_inference(entry.path);
  loaded->chat_template = read_chat_template(entry.path);
  loaded->rules = choose_chat_rules(loaded->chat_template, loaded->model->config).rules;
  int64_t context = options_.ctx_size;
  if (loaded->model->config.max_context > 0) context = std::min<int64_t>(context, loaded->model->config.max_context);
  loaded->context_size = context;
  SchedulerOptions so;
  so.threads = options_.threads;
  so.max_sequences = std::max(1, options_.parallel);
  so.context_size = context;
  so.max_queue = options_.max_queue;
  if (gets_adapters(entry)) {
    loaded->loras = loras_;
    so.set_adapter_scales = attach_server_loras(*loaded->model, *loras_);
  }
  attach_drafter(*loaded, so);
  const std::string mmproj = mmproj_for(entry);
  loaded->media = load_media_encoder(mmproj, !options_.mmproj.empty() && mmproj == options_.mmproj,
                                      loaded->model->config.hidden_size, entry.name, options_.threads);
  loaded->scheduler = std::make_unique<Scheduler>(*loaded->model, &loaded->tokenizer, so);
  loaded->load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (load_seconds) *load_seconds = loaded->load_seconds;
  std::lock_guard<std::mutex> lock(mutex_);
  Slot slot{loaded, std::nullopt};
  if (options_.keep_alive_seconds >= 0)
    slot.expires = std::chrono::system_clock::now() +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(
                       std::chrono::duration<double>(options_.keep_alive_seconds));
  slots_.emplace_back(entry.name, std::move(slot));
  return loaded;
}

void ModelRegistry::touch(const std::string& name, double keep_alive_seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [n, slot] : slots_) {
    if (n != name) continue;
    if (keep_alive_seconds < 0)
      slot.expires.reset();
    else
      slot.expires = std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                                            std::chrono::duration<double>(keep_alive_seconds));
  }
}

bool ModelRegistry::unload(const std::string& name) {
  std::shared_ptr<LoadedModel> victim;  // destroyed outside the lock (joins the scheduler)
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = slots_.begin(); it != slots_.end(); ++it) {
    if (it->first != name) continue;
    victim = std::move(it->second.model);
    slots_.erase(it);
    return true;
  }
  return false;
}

void ModelRegistry::sweep() {
  std::vector<std::shared_ptr<LoadedModel>> victims;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = std::chrono::system_clock::now();
    for (auto it = slots_.begin(); it != slots_.end();) {
      // use_count 1: only the registry holds it, so no request is running on it.
      if (it->second.expires && *it->second.expires <= now && it->second.model.use_count() == 1) {
        victims.push_back(std::move(it->second.model));
        it = slots_.erase(it);
      } else {
        ++it;
      }
    }
  }
  victims.clear();
}

std::vector<LoadedInfo> ModelRegistry::loaded() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<LoadedInfo> out;
  for (const auto& [name, slot] : slots_) {
    LoadedInfo info{slot.model->entry, slot.model->context_size, std::nullopt};
    if (slot.expires)
      info.expires_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(slot.expires->time_since_epoch()).count();
    out.push_back(std::move(info));
  }
  return out;
}

std::string ModelRegistry::mmproj_for(const ModelEntry& entry) const {
  if (!options_.mmproj.empty() && options_.model_paths.size() == 1 && options_.model_paths[0] == entry.path)
    return options_.mmproj;
  return default_mmproj_path(entry.path);
}

SchedulerStats ModelRegistry::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  SchedulerStats total;
  for (const auto& [name, slot] : slots_) {
    const SchedulerStats s = slot.model->scheduler->stats();
    total.active += s.active;
    total.queued += s.queued;
    total.prompt_tokens += s.prompt_tokens;
    total.generated_tokens += s.generated_tokens;
    total.reused_tokens += s.reused_tokens;
    total.requests_done += s.requests_done;
    total.requests_rejected += s.requests_rejected;
  }
  return total;
}

}  // namespace facet::server
