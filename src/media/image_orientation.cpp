// EXIF orientation: find tag 0x0112 in a JPEG, PNG or WebP container and turn the pixels
// upright. Every read is bounds-checked: the metadata comes from untrusted uploads, and a
// damaged block only means "no orientation".
#include "media/image_orientation.h"

#include <cstring>
#include <string_view>

#include "media/image.h"

namespace facet {

using namespace std::string_view_literals;  // magic numbers hold NUL bytes

namespace {

constexpr uint16_t kOrientationTag = 0x0112;

bool has_at(std::span<const uint8_t> bytes, size_t offset, std::string_view magic) {
  return offset <= bytes.size() && bytes.size() - offset >= magic.size() &&
         std::memcmp(bytes.data() + offset, magic.data(), magic.size()) == 0;
}

uint32_t read_be(const uint8_t* p, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}
uint32_t read_le(const uint8_t* p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// JPEG: the APP1 segment that starts "Exif\0\0", found among the segments before the scan.
int jpeg_orientation(std::span<const uint8_t> b) {
  size_t i = 2;  // after SOI
  while (i + 4 <= b.size()) {
    if (b[i] != 0xFF) return 1;  // not a marker where one must be: damaged, stop looking
    const uint8_t marker = b[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) return 1;  // end of image, start of scan
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // markers without a length
      i += 2;
      continue;
    }
    const size_t length = read_be(&b[i + 2], 2);  // counts its own 2 bytes
    if (length < 2 || i + 2 + length > b.size()) return 1;
    const std::span<const uint8_t> data = b.subspan(i + 4, length - 2);
    if (marker == 0xE1 && has_at(data, 0, "Exif\0\0"sv)) return exif_orientation_from_tiff(data);
    i += 2 + length;
  }
  return 1;
}

// PNG: the eXIf chunk (length, type, data, CRC).
int png_orientation(std::span<const uint8_t> b) {
  size_t i = 8;  // after the signature
  while (i + 12 <= b.size()) {
    const size_t length = read_be(&b[i], 4);
    if (length > b.size() - i - 12) return 1;
    if (has_at(b, i + 4, "eXIf"sv)) return exif_orientation_from_tiff(b.subspan(i + 8, length));
    if (has_at(b, i + 4, "IEND"sv)) return 1;
    i += 12 + length;
  }
  return 1;
}

// WebP: the EXIF chunk of the RIFF container (fourcc, little-endian size, data padded to even).
int webp_orientation(std::span<const uint8_t> b) {
  size_t i = 12;  // after "RIFF" size "WEBP"
  while (i + 8 <= b.size()) {
    const size_t size = read_le(&b[i + 4], 4);
    if (size > b.size() - i - 8) return 1;
    if (has_at(b, i, "EXIF"sv)) return exif_orientation_from_tiff(b.subspan(i + 8, size));
    i += 8 + size + (size & 1);
  }
  return 1;
}

}  // namespace

int exif_orientation_from_tiff(std::span<const uint8_t> tiff) {
  if (has_at(tiff, 0, "Exif\0\0"sv)) tiff = tiff.subspan(6);  // some writers keep JPEG's prefix
  bool little;
  if (has_at(tiff, 0, "II*\0"sv)) {
    little = true;
  } else if (has_at(tiff, 0, "MM\0*"sv)) {
    little = false;
  } else {
    return 1;
  }
  auto read = [&](size_t at, int n) { return little ? read_le(&tiff[at], n) : read_be(&tiff[at], n); };
  if (tiff.size() < 8) return 1;
  const size_t ifd = read(4, 4);
  if (ifd > tiff.size() || tiff.size() - ifd < 2) return 1;
  const size_t entries = read(ifd, 2);
  for (size_t e = 0; e < entries; ++e) {
    const size_t at = ifd + 2 + 12 * e;
    if (at + 12 > tiff.size()) return 1;
    if (read(at, 2) != kOrientationTag) continue;
    const uint32_t type = read(at + 2, 2), count = read(at + 4, 4);
    if (count != 1) return 1;
    // SHORT (3) as the standard says; LONG (4) from lax writers. The value sits in the
    // entry's first bytes.
    const uint32_t value = type == 3 ? read(at + 8, 2) : type == 4 ? read(at + 8, 4) : 0;
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

int image_exif_orientation(std::span<const uint8_t> bytes) {
  const std::string_view format = image_format(bytes);
  if (format == "jpeg") return jpeg_orientation(bytes);
  if (format == "png") return png_orientation(bytes);
  if (format == "webp") return webp_orientation(bytes);
  return 1;
}

// Orientation v says where the stored image's first row and first column belong when the
// picture is upright (EXIF 2.3, tag 0x0112):
//   1 top, left      2 top, right      3 bottom, right   4 bottom, left
//   5 left, top      6 right, top      7 right, bottom   8 left, bottom
// (Pillow's exif_transpose: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
// 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90.) For each upright pixel (x, y) below, the stored
// pixel (sx, sy) it shows.
RgbImage apply_exif_orientation(RgbImage image, int orientation) {
  if (orientation < 2 || orientation > 8) return image;
  const int w = image.width, h = image.height;
  const bool swap = orientation >= 5;
  RgbImage out;
  out.width = swap ? h : w;
  out.height = swap ? w : h;
  out.pixels.resize(image.pixels.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;
        case 3: sx = w - 1 - x, sy = h - 1 - y; break;
        case 4: sy = h - 1 - y; break;
        case 5: sx = y, sy = x; break;
        case 6: sx = y, sy = h - 1 - x; break;
        case 7: sx = w - 1 - y, sy = h - 1 - x; break;
        case 8: sx = w - 1 - y, sy = x; break;
        default: break;
      }
      const size_t from = (static_cast<size_t>(sy) * w + sx) * 3, to = (static_cast<size_t>(y) * out.width + x) * 3;
      std::memcpy(&out.pixels[to], &image.pixels[from], 3);
    }
  }
  return out;
}

}  // namespace facet
