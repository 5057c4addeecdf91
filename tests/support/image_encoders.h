// Image encoders for tests: PNG (libpng), JPEG (libjpeg-turbo) and WebP (libwebp) bytes made
// from pixels generated in the test, optionally carrying EXIF metadata (PNG eXIf, JPEG APP1,
// WebP's EXIF chunk in the extended format), so decoding can be checked against known pixels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>  // jpeglib.h needs size_t and FILE declared first
#include <vector>

#include <jpeglib.h>
#include <png.h>

namespace facet::test::image_encoders {

using Bytes = std::vector<uint8_t>;

struct PngSpec {
  int width = 0, height = 0, color_type = PNG_COLOR_TYPE_RGB, bit_depth = 8;
  bool interlaced = false;
  std::vector<png_color> palette;
  std::vector<png_byte> palette_alpha;  // tRNS for palette images
  bool transparent_color = false;       // tRNS for gray / RGB images
  png_color_16 transparent{};
  Bytes exif = {};                      // an eXIf chunk (TIFF bytes) when not empty
};

PngSpec png_spec(int width, int height, int color_type, int bit_depth, bool interlaced,
                 bool transparent_color = false);

// Packs samples (one per channel per pixel) at the spec's bit depth: bits MSB first below 8,
// big-endian pairs at 16.
Bytes encode_png(const PngSpec& spec, const std::vector<uint16_t>& samples);

struct JpegSpec {
  int width = 0, height = 0, components = 3;
  J_COLOR_SPACE color_space = JCS_RGB;
  int quality = 100;
  bool progressive = false, full_chroma = true, adobe_marker = true;
  Bytes app1 = {};  // an APP1 segment's payload ("Exif\0\0" + TIFF) when not empty
};

Bytes encode_jpeg(const JpegSpec& spec, const Bytes& pixels);

enum class WebpKind { kLossless, kLossy };

Bytes encode_webp(int width, int height, const Bytes& pixels, bool alpha, WebpKind kind);

// A lossless animated WebP of RGBA frames (100 ms each).
Bytes encode_animated_webp(int width, int height, const std::vector<Bytes>& rgba_frames);

// A lossless RGB WebP in the extended format (VP8X) with an EXIF chunk holding `exif`.
Bytes encode_webp_with_exif(int width, int height, const Bytes& rgb, const Bytes& exif);

// A TIFF-structured EXIF block whose IFD0 holds one entry: orientation (tag 0x0112, SHORT).
// little: "II" byte order, else "MM".
Bytes exif_with_orientation(int orientation, bool little);

}  // namespace facet::test::image_encoders
