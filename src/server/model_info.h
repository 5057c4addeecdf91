// How models are described to clients: Ollama's `details` block, `/api/show` and a stable
// digest, from the file's metadata (no weights are loaded to list or show a model).
#pragma once

#include <string>

#include "server/http_util.h"
#include "server/model_registry.h"

namespace facet::server {

// A stable identifier of the file (path, size, modification time), hex like a sha256; not
// a content hash: hashing a 30 GB file to list it would take minutes.
std::string model_digest(const ModelEntry& entry);
Json model_details(const ModelEntry& entry);
// Ollama's /api/tags entry.
Json tags_entry(const ModelEntry& entry);
// Ollama's /api/show body; `vision`, `audio`: the model's projector has that tower
// (capabilities "vision", "audio").
Json show_model(const ModelEntry& entry, bool vision = false, bool audio = false);

}  // namespace facet::server
