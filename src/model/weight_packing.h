// Inference-time loading: the model's matrices re-laid once for this CPU's kernels
// (kernels/packed_weights.h), so no generation step, prompt or speculative check pass
// rearranges them per call.
#pragma once

#include <memory>
#include <string>

#include "model/model.h"

namespace facet {

// Packs every decoder matrix that this CPU's kernels read packed (nothing on CPUs or types
// without a packed path, or with FACET_NO_REPACK=1) and gives the file pages they came from
// back to the system, matrix by matrix, so the peak resident set stays about the file's size.
// The outputs are the same bits as without packing. Returns the bytes packed.
size_t pack_weights_for_this_cpu(Model& model);

// load_model() and pack_weights_for_this_cpu(): what run, chat, serve, bench and perplexity
// load. Training, quantizing and exporting use load_model() (they read the file layout).
std::unique_ptr<Model> load_model_for_inference(const std::string& path);

}  // namespace facet
