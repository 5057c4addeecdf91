// What enters the decoder layers, shared by inference (forward.cpp) and training
// (src/train): the scaled token embeddings, the per-layer embeddings, and the RoPE
// cos/sin tables of a run of positions.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace facet {

class ThreadPool;

// cos/sin of every rotated pair at each position of a batch, for one layer kind.
struct RopeAngles {
  int pairs = 0;                // rotated pairs (the rest pass through)
  int half = 0;                 // head_dim / 2: the pairing distance
  std::vector<float> cos, sin;  // [n_tokens, pairs]
};
RopeAngles rope_angles(const RopeConfig& rope, int64_t first_position, int64_t n_tokens);

// Token embeddings × √H (spec §4.1), [n, H]. Token ids must already be validated.
std::vector<float> embed_tokens(const Model& model, const std::vector<int32_t>& tokens);

// Per-layer embeddings (spec §4.2) from the token ids and the scaled embeddings x0,
// [n, L * P]. The big token table is read row by row from the map, never copied whole.
std::vector<float> per_layer_inputs(const Model& model, const std::vector<int32_t>& tokens,
                                    const std::vector<float>& x0, ThreadPool& pool);

}  // namespace facet
