// libFuzzer target: the GGUF parser, then the model config and weight binding on
// whatever parses, must reject bad input with facet::Error and never crash.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "formats/gguf.h"
#include "model/gguf_source.h"
#include "model/model.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file = facet::GgufFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
    facet::ModelConfig config = facet::ModelConfig::from_gguf(*file);
    facet::make_model("fuzz.gguf", config, std::make_unique<facet::GgufWeightSource>(std::move(file)));
  } catch (const facet::Error&) {
  }
  return 0;
}
