#include "model/weight_packing.h"

#include <sys/mman.h>

#include <vector>

#include "kernels/packed_weights.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace facet {
namespace {

// Anonymous memory for the packed matrices, 2 MiB-aligned and asking for huge pages: decode
// streams it like the mapped file it replaces (see util/mapped_file.cpp).
std::shared_ptr<uint8_t> allocate_packed(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t reserved = bytes + kHuge;
  void* area = ::mmap(nullptr, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) fail("cannot allocate ", bytes >> 20, " MiB for the packed weights (set FACET_NO_REPACK=1 to use the file's layout)");
  const auto base = reinterpret_cast<uintptr_t>(area);
  const uintptr_t aligned = (base + kHuge - 1) & ~(uintptr_t{kHuge} - 1);
  ::madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);  // a hint: errors change nothing
  return std::shared_ptr<uint8_t>(reinterpret_cast<uint8_t*>(aligned), [area, reserved](uint8_t*) { ::munmap(area, reserved); });
}

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
  std::shared_ptr<uint8_t> buffer = allocate_packed(total);
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
