// Ollama's model management on the models directory: POST /api/copy {source, destination}
// and DELETE /api/delete {model}. Only the models directory is ever written: a copy lands
// there (hard links where the file system allows, so a multi-gigabyte GGUF costs no space),
// and only models found there can be deleted, never a --model path.
#pragma once

#include "server/server_context.h"

namespace facet::server {

// 200 on success; 400 for a bad or taken destination name, 404 for an unknown source.
void copy_model(ServerContext& ctx, const Json& body);
// 404 for an unknown model, 400 for one outside the models directory. A loaded model is
// unloaded first (requests already running keep their mapping until they finish).
void delete_model(ServerContext& ctx, const Json& body);

}  // namespace facet::server
