// libFuzzer target for the safetensors reader: any byte string must either parse into
// views that lie inside the input, or raise facet::Error. Anything else (a crash, a
// sanitizer report, another exception type, a broken invariant) is a finding.
#include <cstdint>
#include <cstdlib>

#include "formats/safetensors.h"
#include "util/error.h"

namespace {

// Reads the first and last byte of every tensor, so AddressSanitizer flags a view that
// points outside the input buffer, and checks the sizes the reader reports agree.
void touch_tensors(const facet::SafetensorsFile& file, const uint8_t* data, size_t size) {
  volatile uint8_t sink = 0;
  for (const auto& t : file.tensors()) {
    if (t.view.data < data || t.byte_size > size ||
        t.view.data + t.byte_size > data + size)
      std::abort();
    if (t.supported && t.view.byte_size() != t.byte_size) std::abort();
    if (t.byte_size > 0) sink = sink + t.view.data[0] + t.view.data[t.byte_size - 1];
    if (file.tensor(t.name) != &t) std::abort();
  }
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file = facet::SafetensorsFile::parse_buffer(data, size, "fuzz-input");
    touch_tensors(*file, data, size);
  } catch (const facet::Error&) {
    // Rejected cleanly: the expected outcome for most inputs.
  }
  return 0;
}
