#include "model/weight_packing.h"

#include <vector>

#include "kernels/packed_weights.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace facet {
namespace {

// Every matrix of the decoder that matmul() multiplies; the first is the output head.
std::vector<WeightMatrix*> decoder_matrices(ModelWeights& w, WeightMatrix& head) {
  std::vector<WeightMatrix*> out = {&head};
  if (w.ple_model_proj.data != nullptr) out.push_back(&w.ple_model_proj);
  for (LayerWeights& l : w.layers)
    for (WeightMatrix* m : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down, &l.ple_gate, &l.ple_proj, &l.router})
      if (m->data != nullptr) out.push_back(m);
  return out;
}

}  // namespace

size_t pack_weights_for_this_cpu(Model& model) {
  // The output head shares token_embd, whose rows are also read one at a time as embeddings
  // (from the file, on small pages once its packed copy has taken the products).
  WeightMatrix head = as_matrix(model.weights.token_embd);
  std::vector<WeightMatrix*> matrices = decoder_matrices(model.weights, head);
  size_t total = 0;
  std::vector<size_t> sizes;
  for (WeightMatrix* m : matrices) {
    sizes.push_back(packed_bytes(*m));
    total += sizes.back();
  }
  if (total == 0) return 0;
  // Huge pages, as the file maps: decode streams this memory as it streamed the file.
  std::shared_ptr<uint8_t> buffer = allocate_huge_aligned(total);
  size_t at = 0;
  for (size_t i = 0; i < matrices.size(); ++i) {
    if (sizes[i] == 0) continue;
    WeightMatrix& m = *matrices[i];
    pack_weights(m, buffer.get() + at);
    m.packed = buffer.get() + at;
    at += sizes[i];
    const size_t bytes = static_cast<size_t>(m.rows) * m.row_bytes();
    if (&m == &head) advise_sparse_reads(m.data, bytes);
    model.source->release_pages(m.data, bytes);
  }
  model.weights.token_embd_packed = head.packed;
  model.packed_weights = std::move(buffer);
  return total;
}

std::unique_ptr<Model> load_model_for_inference(const std::string& path) {
  std::unique_ptr<Model> model = load_model(path);
  pack_weights_for_this_cpu(*model);
  return model;
}

}  // namespace facet
