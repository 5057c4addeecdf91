#include "server/model_management.h"

#include <filesystem>

namespace facet::server {
namespace fs = std::filesystem;
namespace {

std::string required_name(const Json& body, const char* key) {
  const std::optional<std::string> name = get_string(body, key);
  if (!name || name->empty()) throw_http(400, std::string("field \"") + key + "\" is required");
  return *name;
}

// Whether `path` is directly inside the models directory (what list() scans).
bool in_models_dir(const ServerOptions& options, const std::string& path) {
  if (options.models_dir.empty()) return false;
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(options.models_dir, ec);
  const fs::path parent = fs::weakly_canonical(fs::path(path).parent_path(), ec);
  return !ec && parent == dir;
}

// A hard link of `from` at `to`, or a copy when linking is not possible (another file
// system); folders are rebuilt file by file the same way.
void link_or_copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (fs::is_directory(from)) {
    fs::create_directory(to);
    for (const auto& item : fs::directory_iterator(from)) link_or_copy(item.path(), to / item.path().filename());
    return;
  }
  fs::create_hard_link(from, to, ec);
  if (ec) fs::copy_file(from, to);
}

}  // namespace

void copy_model(ServerContext& ctx, const Json& body) {
  const ModelEntry source = ctx.registry.find(required_name(body, "source"));
  const std::string wanted = required_name(body, "destination");
  const std::optional<std::string> destination = normalize_model_name(wanted);
  if (!destination) throw_http(400, "invalid model name \"" + wanted + "\"");
  if (ctx.options.models_dir.empty()) throw_http(400, "the server has no models directory (--models) to copy into");
  for (const ModelEntry& e : ctx.registry.list())
    if (normalize_model_name(e.name) == destination)
      throw_http(400, "a model named \"" + *destination + "\" already exists");
  // "name:latest" is stored as "name" (the file stem), any other tag as part of the stem.
  std::string stem = *destination;
  if (stem.ends_with(":latest")) stem.resize(stem.size() - std::string_view(":latest").size());
  const fs::path target = fs::path(ctx.options.models_dir) / (source.is_gguf ? stem + ".gguf" : stem);
  std::error_code ec;
  if (fs::exists(target, ec))
    throw_http(400, "\"" + target.filename().string() + "\" already exists in the models directory");
  fs::create_directories(ctx.options.models_dir, ec);
  try {
    link_or_copy(source.path, target);
  } catch (const std::exception& e) {
    fs::remove_all(target, ec);  // no half-written model left behind
    throw_http(500, std::string("copying the model failed: ") + e.what());
  }
}

void delete_model(ServerContext& ctx, const Json& body) {
  std::optional<std::string> name = get_string(body, "model");
  if (!name) name = get_string(body, "name");  // older clients
  if (!name || name->empty()) throw_http(400, "field \"model\" is required");
  const ModelEntry entry = ctx.registry.find(*name);
  if (!in_models_dir(ctx.options, entry.path))
    throw_http(400, "\"" + entry.name + "\" was given with --model; facet only deletes models in its models directory");
  ctx.registry.unload(entry.name);
  std::error_code ec;
  if (fs::remove_all(entry.path, ec) == static_cast<std::uintmax_t>(-1) || ec)
    throw_http(500, "deleting \"" + entry.path + "\" failed: " + ec.message());
}

}  // namespace facet::server
