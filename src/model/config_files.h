// Reading the configs of drafters and media towers from their files: JSON objects, the
// tower part of an HF model folder's config.json, and whether a path holds a tower at all.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace facet {

// The JSON object in the file `path`; throws Error naming it when it cannot be opened or
// does not hold a JSON object.
nlohmann::json read_json_object(const std::string& path);

// The JSON of a model folder's config.json, or a discarded value when the folder has none
// or it is not JSON: for probes that answer "no" rather than throw.
nlohmann::json probe_folder_config(const std::string& dir);

// A size read from a config: a positive integer below 2^24, else an Error naming `source`
// and `key`.
int config_dimension(int64_t value, const std::string& source, const std::string& key);

// What a model folder's config.json says about one media tower (`kind` "vision" or "audio").
struct HfTowerConfig {
  std::string config_path;
  nlohmann::json tower;       // the "<kind>_config" object
  int text_hidden_size = 0;   // text_config.hidden_size: the soft tokens' width
};
// Throws Error naming the folder or its config.json when it has none, no such tower or no
// text width.
HfTowerConfig read_hf_tower_config(const std::string& dir, const std::string& kind);

// True when `path` is a model folder whose config.json has a "<kind>_config" object, or an
// mmproj GGUF (architecture "clip") with clip.has_<kind>_encoder set; false otherwise,
// including for unreadable paths.
bool has_media_tower(const std::string& path, const std::string& kind);

}  // namespace facet
