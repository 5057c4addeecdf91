#include "model/config_files.h"

#include <filesystem>
#include <fstream>

#include "formats/gguf.h"
#include "util/error.h"

namespace facet {

using nlohmann::json;

json read_json_object(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), path, ": cannot open");
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  require(!j.is_discarded() && j.is_object(), path, ": not a JSON object");
  return j;
}

json probe_folder_config(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config_path, ec)) return json(json::value_t::discarded);
  std::ifstream in(config_path);
  return json::parse(in, nullptr, /*allow_exceptions=*/false);
}

int config_dimension(int64_t value, const std::string& source, const std::string& key) {
  require(value > 0 && value <= (1 << 24), source, ": ", key, " must be a positive integer below 2^24, found ", value);
  return static_cast<int>(value);
}

HfTowerConfig read_hf_tower_config(const std::string& dir, const std::string& kind) {
  namespace fs = std::filesystem;
  std::error_code ec;
  HfTowerConfig out;
  out.config_path = (fs::path(dir) / "config.json").string();
  const std::string& path = out.config_path;
  require(fs::exists(path, ec), dir, ": not a model folder (no config.json)");
  json j = read_json_object(path);
  const std::string key = kind + "_config";
  require(j.contains(key) && j[key].is_object(), path, ": the model has no ", kind, " tower (no ", key, ")");
  require(j.contains("text_config") && j["text_config"].is_object() && j["text_config"].contains("hidden_size") &&
              j["text_config"]["hidden_size"].is_number_integer(),
          path, ": text_config.hidden_size is missing");
  out.text_hidden_size = config_dimension(j["text_config"]["hidden_size"].get<int64_t>(), path, "text_config.hidden_size");
  out.tower = std::move(j[key]);
  return out;
}

bool has_media_tower(const std::string& path, const std::string& kind) {
  namespace fs = std::filesystem;
  std::error_code ec;
  try {
    if (fs::is_directory(path, ec)) {
      const json j = probe_folder_config(path);
      const std::string key = kind + "_config";
      return j.is_object() && j.contains(key) && j[key].is_object();
    }
    if (!fs::is_regular_file(path, ec)) return false;
    auto f = GgufFile::open(path);
    return f->get_string_or("general.architecture", "") == "clip" &&
           f->get_bool_or("clip.has_" + kind + "_encoder", false);
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace facet
