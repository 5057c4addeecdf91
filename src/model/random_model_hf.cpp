// Placeholder until the safetensors writer is merged.
#include "model/random_model.h"
#include "util/error.h"

namespace facet {
GeneratedModel write_random_hf(const ModelConfig&, const GeneratorOptions&, const std::string& dir) {
  fail(dir, ": HF output is not available yet (needs the safetensors writer)");
}
}  // namespace facet
