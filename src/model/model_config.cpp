#include "model/model_config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "util/error.h"

namespace facet {

const char* layer_kind_name(LayerKind kind) { return kind == LayerKind::Sliding ? "sliding" : "full"; }

RopeConfig make_rope(double theta, int head_dim, double partial_rotary_factor) {
  RopeConfig r;
  r.theta = theta;
  r.head_dim = head_dim;
  // Spec §4.5.1: R = floor(factor * D / 2) pairs rotate; the exponent keeps the full D.
  r.rotated_pairs = static_cast<int>(std::floor(partial_rotary_factor * head_dim / 2.0 + 1e-9));
  r.freq_factors.assign(static_cast<size_t>(r.rotated_pairs), 1.0);
  return r;
}

void derive_kv_sharing(ModelConfig& c, const std::string& source) {
  const int first_shared = c.first_shared_layer();
  require(c.n_kv_shared_layers >= 0 && first_shared >= 0, source,
          ": num_kv_shared_layers = ", c.n_kv_shared_layers, " exceeds the layer count ", c.n_layers);
  for (int i = 0; i < c.n_layers; ++i) {
    LayerConfig& layer = c.layers[static_cast<size_t>(i)];
    layer.owns_kv = i < first_shared;
    layer.kv_source = i;
    if (layer.owns_kv) continue;
    // HF rule (spec §5): read the last KV-owning layer of the same kind.
    int source_layer = -1;
    for (int j = first_shared - 1; j >= 0; --j)
      if (c.layers[static_cast<size_t>(j)].kind == layer.kind) {
        source_layer = j;
        break;
      }
    require(source_layer >= 0, source, ": layer ", i, " (", layer_kind_name(layer.kind),
            ") shares KV but no earlier layer of that kind owns KV");
    const LayerConfig& src = c.layers[static_cast<size_t>(source_layer)];
    layer.kv_source = source_layer;
    layer.n_kv_heads = src.n_kv_heads;
    layer.k_eq_v = src.k_eq_v;
  }
}

std::string ModelConfig::shape_family() const {
  struct Known {
    const char* name;
    int hidden, layers;
  };
  static constexpr Known kKnown[] = {{"E2B", 1536, 35}, {"E4B", 2560, 42}, {"26B-A4B", 2816, 30},
                                     {"31B", 5376, 60}, {"12B", 3840, 48}};
  for (const auto& k : kKnown)
    if (hidden_size == k.hidden && n_layers == k.layers) return std::string(k.name) + "-shaped";
  return "custom";
}

void ModelConfig::validate(const std::string& source) const {
  auto positive = [&](int v, const char* field) {
    require(v > 0, source, ": ", field, " must be positive (got ", v, ")");
  };
  positive(vocab_size, "vocab size");
  positive(hidden_size, "hidden size");
  positive(n_layers, "layer count");
  positive(n_heads, "attention head count");
  positive(sliding_window, "sliding window");
  require(static_cast<int>(layers.size()) == n_layers, source, ": ", layers.size(),
          " layer entries for ", n_layers, " layers");
  require(rms_eps > 0 && rms_eps < 1, source, ": rms_norm_eps ", rms_eps, " is out of range");
  require(final_logit_softcap >= 0, source, ": final_logit_softcapping must not be negative");
  require(ple_dim >= 0 && (ple_dim == 0 || ple_vocab > 0), source, ": per-layer embedding size is inconsistent");
  if (n_experts > 0) {
    require(n_experts_used > 0 && n_experts_used <= n_experts, source, ": expert_used_count ",
            n_experts_used, " must be between 1 and expert_count ", n_experts);
    positive(expert_ffn_width, "expert feed-forward width");
  }
  // Dimensions multiply into tensor sizes; keep them far from overflow.
  const int64_t kMaxDim = 1 << 24;
  require(vocab_size < kMaxDim && hidden_size < kMaxDim && n_layers < 4096 && n_heads < 4096, source,
          ": dimensions are implausibly large");
  for (const RopeConfig* r : {&rope_sliding, &rope_full}) {
    require(r->rotated_pairs >= 0 && r->rotated_pairs * 2 <= r->head_dim, source,
            ": RoPE rotates ", r->rotated_pairs, " pairs of a ", r->head_dim, "-wide head");
    require(r->theta > 0, source, ": RoPE theta must be positive");
  }
  for (int i = 0; i < n_layers; ++i) {
    const LayerConfig& l = layers[static_cast<size_t>(i)];
    require(l.head_dim > 0 && l.head_dim % 2 == 0 && l.head_dim < 65536, source, ": layer ", i,
            ": head size ", l.head_dim, " must be positive and even");
    require(l.head_dim == rope(l.kind).head_dim, source, ": layer ", i, ": head size ", l.head_dim,
            " differs from the ", layer_kind_name(l.kind), " RoPE head size ", rope(l.kind).head_dim);
    require(l.n_kv_heads > 0 && n_heads % l.n_kv_heads == 0, source, ": layer ", i, ": ", n_heads,
            " query heads cannot be grouped over ", l.n_kv_heads, " KV heads");
    require(l.ffn_width > 0 && l.ffn_width < kMaxDim, source, ": layer ", i, ": feed-forward width ",
            l.ffn_width, " is invalid");
    require(l.kv_source >= 0 && l.kv_source <= i, source, ": layer ", i, ": invalid KV source");
  }
}

}  // namespace facet
