// EXIF orientation: images made here carry orientation 1-8 in each container (PNG eXIf, JPEG
// APP1, WebP EXIF chunk, both TIFF byte orders) and decode_image turns them upright. The
// expected upright pixels come from EXIF's own definition, written out here independently of
// the code under test: orientation v names the side where the stored image's first row
// belongs and the side where its first column belongs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "media/image.h"
#include "media/image_orientation.h"
#include "support/image_encoders.h"

namespace facet {
namespace {

using namespace test::image_encoders;

enum class Side { kTop, kBottom, kLeft, kRight };

// EXIF 2.3, tag 0x0112: {where row 0 goes, where column 0 goes} for values 1..8.
constexpr Side kRowSide[9] = {Side::kTop, Side::kTop,  Side::kTop,   Side::kBottom, Side::kBottom,
                              Side::kLeft, Side::kRight, Side::kRight, Side::kLeft};
constexpr Side kColumnSide[9] = {Side::kLeft, Side::kLeft, Side::kRight, Side::kRight, Side::kLeft,
                                 Side::kTop,  Side::kTop,  Side::kBottom, Side::kBottom};

// The upright image of `stored` (RGB, w x h) for orientation v, placed pixel by pixel.
RgbImage upright(const Bytes& stored, int w, int h, int v) {
  const bool rows_vertical = kRowSide[v] == Side::kTop || kRowSide[v] == Side::kBottom;
  RgbImage out;
  out.width = rows_vertical ? w : h;
  out.height = rows_vertical ? h : w;
  out.pixels.assign(stored.size(), 0);
  for (int r = 0; r < h; ++r) {
    for (int c = 0; c < w; ++c) {
      int x = 0, y = 0;
      switch (kRowSide[v]) {  // stored row r: a row counted from that side, or a column
        case Side::kTop: y = r; break;
        case Side::kBottom: y = out.height - 1 - r; break;
        case Side::kLeft: x = r; break;
        case Side::kRight: x = out.width - 1 - r; break;
      }
      switch (kColumnSide[v]) {
        case Side::kLeft: x = c; break;
        case Side::kRight: x = out.width - 1 - c; break;
        case Side::kTop: y = c; break;
        case Side::kBottom: y = out.height - 1 - c; break;
      }
      for (int k = 0; k < 3; ++k)
        out.pixels[(size_t(y) * out.width + x) * 3 + k] = stored[(size_t(r) * w + c) * 3 + k];
    }
  }
  return out;
}

// Every pixel different: R = 16 row + column, G = 100 + row, B = 200 + column.
Bytes distinct_pixels(int w, int h) {
  Bytes rgb;
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) rgb.insert(rgb.end(), {uint8_t(16 * r + c), uint8_t(100 + r), uint8_t(200 + c)});
  return rgb;
}

void expect_same(const RgbImage& got, const RgbImage& want, const std::string& what) {
  EXPECT_EQ(got.width, want.width) << what;
  EXPECT_EQ(got.height, want.height) << what;
  EXPECT_TRUE(got.pixels == want.pixels) << what;
}

TEST(ImageOrientation, PngEveryOrientationAndByteOrderTurnsUpright) {
  const int w = 5, h = 3;
  const Bytes stored = distinct_pixels(w, h);
  const std::vector<uint16_t> samples(stored.begin(), stored.end());
  for (bool little : {true, false}) {
    for (int v = 1; v <= 8; ++v) {
      PngSpec spec = png_spec(w, h, PNG_COLOR_TYPE_RGB, 8, false);
      spec.exif = exif_with_orientation(v, little);
      const Bytes file = encode_png(spec, samples);
      EXPECT_EQ(image_exif_orientation(file), v);
      expect_same(decode_image(file, "photo.png"), upright(stored, w, h, v),
                  "orientation " + std::to_string(v) + (little ? " II" : " MM"));
    }
  }
}

TEST(ImageOrientation, JpegApp1ExifTurnsTheDecodedPixelsUpright) {
  const int w = 24, h = 16;
  const Bytes stored = distinct_pixels(w, h);
  const JpegSpec plain{.width = w, .height = h};
  const RgbImage as_stored = decode_image(encode_jpeg(plain, stored), "plain.jpg");
  for (int v : {3, 6, 8}) {
    JpegSpec spec = plain;
    spec.app1 = {'E', 'x', 'i', 'f', 0, 0};
    const Bytes tiff = exif_with_orientation(v, v != 6);
    spec.app1.insert(spec.app1.end(), tiff.begin(), tiff.end());
    const Bytes file = encode_jpeg(spec, stored);
    EXPECT_EQ(image_exif_orientation(file), v);
    // The same scan decodes to the same pixels; only where they go changes.
    expect_same(decode_image(file, "photo.jpg"), upright(as_stored.pixels, w, h, v), "orientation " + std::to_string(v));
  }
}

TEST(ImageOrientation, WebpExifChunkTurnsUpright) {
  const int w = 7, h = 4;
  const Bytes stored = distinct_pixels(w, h);
  for (int v : {2, 5, 7}) {
    const Bytes file = encode_webp_with_exif(w, h, stored, exif_with_orientation(v, true));
    EXPECT_EQ(image_exif_orientation(file), v);
    expect_same(decode_image(file, "photo.webp"), upright(stored, w, h, v), "orientation " + std::to_string(v));
  }
}

TEST(ImageOrientation, DamagedOrOddExifMeansAsStored) {
  const Bytes good = exif_with_orientation(6, true);
  EXPECT_EQ(exif_orientation_from_tiff(good), 6);
  // JPEG's "Exif\0\0" prefix, kept by some writers inside PNG/WebP, is accepted.
  Bytes prefixed = {'E', 'x', 'i', 'f', 0, 0};
  prefixed.insert(prefixed.end(), good.begin(), good.end());
  EXPECT_EQ(exif_orientation_from_tiff(prefixed), 6);
  // Every truncation of the block: no crash; the value once its whole 12-byte entry is there
  // (header 8 + entry count 2 + entry 12 bytes).
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_EQ(exif_orientation_from_tiff(std::span(good.data(), n)), n >= 22 ? 6 : 1) << "first " << n << " bytes";
  EXPECT_EQ(exif_orientation_from_tiff(exif_with_orientation(0, true)), 1);  // out of range
  EXPECT_EQ(exif_orientation_from_tiff(exif_with_orientation(9, false)), 1);
  Bytes far = good;
  far[4] = 0xF0;  // IFD0 offset past the end
  EXPECT_EQ(exif_orientation_from_tiff(far), 1);
  Bytes many = good;
  many[8] = 0xFF, many[9] = 0xFF;  // 65535 entries announced, one present
  EXPECT_EQ(exif_orientation_from_tiff(many), 6);  // found before running out
  Bytes two = good;
  two[14] = 2;  // count 2: not a single orientation value
  EXPECT_EQ(exif_orientation_from_tiff(two), 1);
  const Bytes not_image = {'h', 'e', 'l', 'l', 'o'};
  EXPECT_EQ(image_exif_orientation(not_image), 1);
  // A JPEG whose APP1 length runs past the end: still decodes as far as libjpeg goes, and the
  // orientation reader gives up quietly.
  const Bytes jpeg_head = {0xFF, 0xD8, 0xFF, 0xE1, 0x7F, 0xFF, 'E', 'x', 'i', 'f', 0, 0};
  EXPECT_EQ(image_exif_orientation(jpeg_head), 1);
}

TEST(ImageOrientation, ImagesWithoutExifAreUnchanged) {
  const int w = 6, h = 2;
  const Bytes stored = distinct_pixels(w, h);
  const std::vector<uint16_t> samples(stored.begin(), stored.end());
  const Bytes file = encode_png(png_spec(w, h, PNG_COLOR_TYPE_RGB, 8, false), samples);
  EXPECT_EQ(image_exif_orientation(file), 1);
  expect_same(decode_image(file, "plain.png"), upright(stored, w, h, 1), "no EXIF");
}

}  // namespace
}  // namespace facet
