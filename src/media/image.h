// Images in prompts, first step: the bytes a client sends (PNG, JPEG or WebP, as browsers
// produce them) -> 8-bit RGB pixels. Decoding goes through libpng, libjpeg-turbo and libwebp,
// all from memory, so the server can decode an upload without writing it to disk.
//
// The result matches what Hugging Face's image processors see after `convert_rgb`:
// transparency is composited onto white, palettes and gray are expanded to RGB, 16-bit
// samples keep their high byte (as Pillow does), and no gamma or colour-profile correction is
// applied (Pillow applies none either). A photo's EXIF orientation is applied (turned
// upright, as transformers' load_image does; see image_orientation.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace facet {

// An 8-bit RGB image, rows top to bottom, 3 bytes per pixel (R, G, B).
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
};

// Limits that keep hostile files from exhausting memory: checked against the size the file's
// header announces, before any pixel buffer is allocated.
struct ImageLimits {
  int64_t max_pixels = 50'000'000;
  int max_side = 16384;
};

// Which format the bytes are, by magic number: "png", "jpeg", "webp", or "" when unknown.
std::string_view image_format(std::span<const uint8_t> bytes);

// Decodes PNG (any bit depth and colour type, palette, gray, 16-bit, interlaced), JPEG
// (baseline, progressive, grayscale, CMYK -> RGB) and WebP (lossy, lossless, alpha; of an
// animated one its first frame, as Pillow opens it), and turns a photo upright by its EXIF
// orientation. Transparent pixels are composited onto white as Hugging Face's convert_rgb
// does (out = a*c + (1-a)*255, rounded). `what` names the input in error messages (a file name,
// "messages[0].images[1]"). Throws facet::Error for an unknown format, corrupt or truncated
// data, or an image over `limits`; never crashes on any input.
RgbImage decode_image(std::span<const uint8_t> bytes, const std::string& what,
                      const ImageLimits& limits = {});

// Reads `path` and decodes it; errors name the path.
RgbImage read_image_file(const std::string& path, const ImageLimits& limits = {});

}  // namespace facet
