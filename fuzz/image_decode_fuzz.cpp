// libFuzzer target for decode_image (PNG through libpng, JPEG through libjpeg-turbo, WebP
// through libwebp): any byte string must either decode to an image within the limits whose
// buffer holds exactly width*height*3 bytes, or raise facet::Error. Anything else (a crash, a
// sanitizer report, another exception type, a broken invariant) is a finding.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "media/image.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Smaller limits than the defaults keep every input fast and inside libFuzzer's memory cap;
  // the limit checks themselves are the same code.
  const facet::ImageLimits limits{.max_pixels = 1'000'000, .max_side = 4096};
  try {
    const facet::RgbImage image = facet::decode_image(std::span<const uint8_t>(data, size), "fuzz-input", limits);
    if (image.width <= 0 || image.height <= 0 || image.width > limits.max_side ||
        image.height > limits.max_side || int64_t{image.width} * image.height > limits.max_pixels)
      std::abort();
    if (image.pixels.size() != size_t(image.width) * size_t(image.height) * 3) std::abort();
  } catch (const facet::Error&) {
    // Rejected cleanly: the expected outcome for most inputs.
  }
  return 0;
}
