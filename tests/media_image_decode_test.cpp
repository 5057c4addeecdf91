// decode_image: images made here with the encoders of libpng, libjpeg-turbo and libwebp from
// pixels generated here decode back to those pixels (exactly for the lossless formats, within
// a stated tolerance for JPEG and lossy WebP); transparency composites onto white as computed
// independently below (plain double arithmetic); unknown, truncated, corrupt and oversized
// inputs raise facet::Error.
#include <gtest/gtest.h>

#include <csetjmp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include "media/image.h"
#include "support/image_encoders.h"
#include "support/error_text.h"
#include "support/temp_dir.h"
#include "util/error.h"

namespace facet {
namespace {

using test::error_of;
using namespace test::image_encoders;

// ---------------------------------------------------------------- pixels made here

// Channel-interleaved samples, rows top to bottom; values in [0, max].
std::vector<uint16_t> gradient(int width, int height, int channels, int max) {
  std::vector<uint16_t> samples;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        const int v = (c % 3 == 0) ? x * max / std::max(1, width - 1)
                    : (c % 3 == 1) ? y * max / std::max(1, height - 1)
                                   : ((x + y) * max / std::max(1, width + height - 2));
        samples.push_back(static_cast<uint16_t>(c == 3 ? max - v / 2 : v));
      }
  return samples;
}

std::vector<uint16_t> random_samples(size_t count, int max, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<uint16_t> samples(count);
  for (auto& s : samples) s = static_cast<uint16_t>(rng() % unsigned(max + 1));
  return samples;
}

Bytes to_bytes(const std::vector<uint16_t>& samples) { return Bytes(samples.begin(), samples.end()); }

// The reference for white compositing: a*c + (1-a)*255 with a in [0, 1], rounded.
uint8_t on_white(double color, double alpha_255) {
  const double a = alpha_255 / 255.0;
  return static_cast<uint8_t>(std::lround(a * color + (1.0 - a) * 255.0));
}

// Expected RGB of 8-bit RGBA samples composited onto white.
Bytes rgba_on_white(const Bytes& rgba) {
  Bytes rgb;
  for (size_t i = 0; i < rgba.size(); i += 4)
    for (int c = 0; c < 3; ++c) rgb.push_back(on_white(rgba[i + c], rgba[i + 3]));
  return rgb;
}

int max_abs_difference(const Bytes& a, const Bytes& b) {
  EXPECT_EQ(a.size(), b.size());
  int worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
  return worst;
}

void expect_image(const RgbImage& image, int width, int height, const Bytes& rgb) {
  EXPECT_EQ(image.width, width);
  EXPECT_EQ(image.height, height);
  ASSERT_EQ(image.pixels.size(), size_t(width) * size_t(height) * 3);
  EXPECT_TRUE(image.pixels == rgb) << "max difference " << max_abs_difference(image.pixels, rgb);
}

// ---------------------------------------------------------------- PNG

TEST(ImageDecodePng, RgbEightBitPlainAndInterlacedDecodeExactly) {
  for (bool interlaced : {false, true}) {
    PngSpec spec = png_spec(37, 23, PNG_COLOR_TYPE_RGB, 8, interlaced);  // odd sizes: partial Adam7 blocks
    const auto samples = random_samples(37 * 23 * 3, 255, 1);
    expect_image(decode_image(encode_png(spec, samples), "rgb.png"), 37, 23, to_bytes(samples));
  }
}

TEST(ImageDecodePng, GrayAtEveryBitDepthBecomesEqualRgbChannels) {
  for (int depth : {1, 2, 4, 8, 16}) {
    for (bool interlaced : {false, true}) {
      PngSpec spec = png_spec(19, 11, PNG_COLOR_TYPE_GRAY, depth, interlaced);
      const int max = (1 << depth) - 1;
      const auto samples = random_samples(19 * 11, max, unsigned(depth));
      Bytes expected;
      for (uint16_t v : samples) {
        // Low depths scale to the full 0..255 range; 16 bits keep the high byte.
        const uint8_t g = depth == 16 ? uint8_t(v >> 8) : uint8_t(std::lround(v * 255.0 / max));
        expected.insert(expected.end(), {g, g, g});
      }
      SCOPED_TRACE(testing::Message() << "depth " << depth << " interlaced " << interlaced);
      expect_image(decode_image(encode_png(spec, samples), "gray.png"), 19, 11, expected);
    }
  }
}

TEST(ImageDecodePng, SixteenBitRgbKeepsTheHighByte) {
  PngSpec spec = png_spec(16, 9, PNG_COLOR_TYPE_RGB, 16, false);
  const auto samples = random_samples(16 * 9 * 3, 65535, 3);
  Bytes expected;
  for (uint16_t v : samples) expected.push_back(uint8_t(v >> 8));
  expect_image(decode_image(encode_png(spec, samples), "rgb16.png"), 16, 9, expected);
}

TEST(ImageDecodePng, PalettesExpandAndTheirTransparencyCompositesOntoWhite) {
  for (int depth : {1, 2, 4, 8}) {
    const int colors = 1 << std::min(depth, 6);
    PngSpec spec = png_spec(13, 7, PNG_COLOR_TYPE_PALETTE, depth, false);
    std::mt19937 rng{unsigned(depth)};
    for (int i = 0; i < colors; ++i)
      spec.palette.push_back(png_color{uint8_t(rng()), uint8_t(rng()), uint8_t(rng())});
    // Alpha for the first entries only: the others are opaque, as the PNG spec says.
    for (int i = 0; i < std::max(1, colors / 2); ++i) spec.palette_alpha.push_back(uint8_t(i == 0 ? 0 : rng()));
    const auto indices = random_samples(13 * 7, colors - 1, 10u + unsigned(depth));
    Bytes expected;
    for (uint16_t i : indices) {
      const png_color& c = spec.palette[i];
      const double alpha = i < spec.palette_alpha.size() ? spec.palette_alpha[i] : 255.0;
      for (double channel : {double(c.red), double(c.green), double(c.blue)}) expected.push_back(on_white(channel, alpha));
    }
    SCOPED_TRACE(testing::Message() << "depth " << depth);
    expect_image(decode_image(encode_png(spec, indices), "palette.png"), 13, 7, expected);
  }
}

TEST(ImageDecodePng, RgbaAndGrayAlphaCompositeOntoWhite) {
  {
    PngSpec spec = png_spec(31, 17, PNG_COLOR_TYPE_RGB_ALPHA, 8, false);
    auto samples = random_samples(31 * 17 * 4, 255, 4);
    samples[3] = 0;      // fully transparent pixel -> white whatever its colour
    samples[7] = 255;    // opaque -> its own colour
    Bytes rgba = to_bytes(samples);
    expect_image(decode_image(encode_png(spec, samples), "rgba.png"), 31, 17, rgba_on_white(rgba));
    EXPECT_EQ(rgba_on_white(rgba)[0], 255);
  }
  {
    PngSpec spec = png_spec(12, 5, PNG_COLOR_TYPE_GRAY_ALPHA, 8, true);
    const auto samples = random_samples(12 * 5 * 2, 255, 5);
    Bytes expected;
    for (size_t i = 0; i < samples.size(); i += 2) {
      const uint8_t g = on_white(samples[i], samples[i + 1]);
      expected.insert(expected.end(), {g, g, g});
    }
    expect_image(decode_image(encode_png(spec, samples), "ga.png"), 12, 5, expected);
  }
}

TEST(ImageDecodePng, SixteenBitRgbaCompositesItsHighBytes) {
  PngSpec spec = png_spec(10, 6, PNG_COLOR_TYPE_RGB_ALPHA, 16, false);
  const auto samples = random_samples(10 * 6 * 4, 65535, 6);
  Bytes high;
  for (uint16_t v : samples) high.push_back(uint8_t(v >> 8));
  expect_image(decode_image(encode_png(spec, samples), "rgba16.png"), 10, 6, rgba_on_white(high));
}

TEST(ImageDecodePng, GrayTransparentColourTurnsWhiteButRgbTransparentColourIsIgnored) {
  // Pillow opens gray + tRNS as "L" with transparency (convert_rgb composites it) and RGB +
  // tRNS as plain "RGB" (convert_rgb returns it unchanged).
  PngSpec gray = png_spec(4, 1, PNG_COLOR_TYPE_GRAY, 8, false, true);
  gray.transparent.gray = 7;
  expect_image(decode_image(encode_png(gray, {7, 8, 0, 7}), "gray-trns.png"), 4, 1,
               {255, 255, 255, 8, 8, 8, 0, 0, 0, 255, 255, 255});
  PngSpec rgb = png_spec(2, 1, PNG_COLOR_TYPE_RGB, 8, false, true);
  rgb.transparent.red = 1, rgb.transparent.green = 2, rgb.transparent.blue = 3;
  expect_image(decode_image(encode_png(rgb, {1, 2, 3, 4, 5, 6}), "rgb-trns.png"), 2, 1, {1, 2, 3, 4, 5, 6});
}

// ---------------------------------------------------------------- JPEG

Bytes smooth_rgb(int width, int height) { return to_bytes(gradient(width, height, 3, 255)); }

TEST(ImageDecodeJpeg, BaselineAndProgressiveAtQuality100StayWithinFourLevels) {
  // At quality 100 without chroma subsampling every quantizer is 1: the losses are coefficient
  // rounding and the YCbCr round trip, a few levels on a smooth gradient (4 at most here).
  // Progressive coding transmits the same quantized coefficients, so both decode alike.
  const Bytes rgb = smooth_rgb(64, 40);
  Bytes baseline_pixels;
  for (bool progressive : {false, true}) {
    const Bytes file = encode_jpeg({.width = 64, .height = 40, .progressive = progressive}, rgb);
    const RgbImage image = decode_image(file, "photo.jpg");
    ASSERT_EQ(image.width, 64);
    ASSERT_EQ(image.height, 40);
    EXPECT_LE(max_abs_difference(image.pixels, rgb), 4) << "progressive " << progressive;
    if (!progressive) baseline_pixels = image.pixels;
    else EXPECT_TRUE(image.pixels == baseline_pixels);
  }
}

TEST(ImageDecodeJpeg, SubsampledChromaStaysClose) {
  const Bytes rgb = smooth_rgb(50, 30);  // not a multiple of the 16x16 MCU
  const Bytes file = encode_jpeg({.width = 50, .height = 30, .full_chroma = false}, rgb);
  const RgbImage image = decode_image(file, "photo.jpg");
  ASSERT_EQ(image.width, 50);
  EXPECT_LE(max_abs_difference(image.pixels, rgb), 6);
}

TEST(ImageDecodeJpeg, GrayscaleBecomesEqualRgbChannels) {
  const auto gray = gradient(33, 21, 1, 255);
  const Bytes file = encode_jpeg({.width = 33, .height = 21, .components = 1, .color_space = JCS_GRAYSCALE},
                                 to_bytes(gray));
  const RgbImage image = decode_image(file, "gray.jpg");
  ASSERT_EQ(image.pixels.size(), size_t(33 * 21 * 3));
  int worst = 0;
  for (size_t i = 0; i < gray.size(); ++i) {
    EXPECT_EQ(image.pixels[3 * i], image.pixels[3 * i + 1]);
    EXPECT_EQ(image.pixels[3 * i], image.pixels[3 * i + 2]);
    worst = std::max(worst, std::abs(int(image.pixels[3 * i]) - int(gray[i])));
  }
  EXPECT_LE(worst, 1);
}

TEST(ImageDecodeJpeg, CmykConvertsToRgbWithAndWithoutAdobeInversion) {
  const int w = 24, h = 16;
  const auto cmyk = gradient(w, h, 4, 255);  // c, m, y ramps; k = 255 - ramp / 2
  Bytes expected;
  for (size_t i = 0; i < cmyk.size(); i += 4)
    for (int c = 0; c < 3; ++c)
      expected.push_back(uint8_t(std::lround((255.0 - cmyk[i + c]) * (255.0 - cmyk[i + 3]) / 255.0)));
  // Photoshop (Adobe marker) stores 255 - ink; files without the marker store ink itself.
  Bytes inverted;
  for (uint16_t v : cmyk) inverted.push_back(uint8_t(255 - v));
  for (bool adobe : {true, false}) {
    const JpegSpec spec{.width = w, .height = h, .components = 4, .color_space = JCS_CMYK, .adobe_marker = adobe};
    const RgbImage image = decode_image(encode_jpeg(spec, adobe ? inverted : to_bytes(cmyk)), "cmyk.jpg");
    ASSERT_EQ(image.width, w);
    EXPECT_LE(max_abs_difference(image.pixels, expected), 3) << "adobe " << adobe;
  }
}

// ---------------------------------------------------------------- WebP

TEST(ImageDecodeWebp, LosslessRgbAndRgbaDecodeExactly) {
  const auto rgb = random_samples(29 * 18 * 3, 255, 7);
  expect_image(decode_image(encode_webp(29, 18, to_bytes(rgb), false, WebpKind::kLossless), "a.webp"), 29, 18,
               to_bytes(rgb));
  Bytes rgba = to_bytes(random_samples(29 * 18 * 4, 255, 8));
  rgba[3] = 0;
  expect_image(decode_image(encode_webp(29, 18, rgba, true, WebpKind::kLossless), "b.webp"), 29, 18,
               rgba_on_white(rgba));
}

TEST(ImageDecodeWebp, LossyStaysCloseAndItsAlphaComposites) {
  // Lossy WebP is 4:2:0 YUV; on a smooth gradient at quality 100 the error stays small.
  const int w = 48, h = 32;
  const Bytes rgb = smooth_rgb(w, h);
  const RgbImage image = decode_image(encode_webp(w, h, rgb, false, WebpKind::kLossy), "lossy.webp");
  ASSERT_EQ(image.width, w);
  EXPECT_LE(max_abs_difference(image.pixels, rgb), 8);
  const Bytes rgba = to_bytes(gradient(w, h, 4, 255));  // alpha from 255 down to about 128
  const RgbImage blended = decode_image(encode_webp(w, h, rgba, true, WebpKind::kLossy), "alpha.webp");
  EXPECT_LE(max_abs_difference(blended.pixels, rgba_on_white(rgba)), 8);
}

TEST(ImageDecodeWebp, AnimatedWebpGivesItsFirstFrame) {
  // Two lossless frames; the first has transparent pixels (composited onto white), the second
  // differs everywhere. Pillow opens an animated WebP at frame 0, and so does facet.
  const int w = 12, h = 9;
  Bytes first = to_bytes(random_samples(size_t(w) * h * 4, 255, 5)), second(first.size());
  for (size_t i = 0; i < first.size(); ++i) second[i] = uint8_t(255 - first[i]);
  for (size_t i = 3; i < first.size(); i += 4) first[i] = i % 3 ? 255 : 0, second[i] = 255;
  const Bytes file = encode_animated_webp(w, h, {first, second});
  expect_image(decode_image(file, "anim.webp"), w, h, rgba_on_white(first));
  // An animation header with no frames is a clear error.
  const Bytes empty = {'R', 'I', 'F', 'F', 22, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X', 10, 0, 0, 0,
                       0x02, 0, 0, 0, 9, 0, 0, 9, 0, 0};
  EXPECT_NE(error_of([&] { decode_image(empty, "anim.webp"); }).find("anim.webp: corrupt or truncated animated WebP"),
            std::string::npos);
}

// ---------------------------------------------------------------- formats and errors

TEST(ImageFormat, RecognisesMagicNumbers) {
  EXPECT_EQ(image_format(Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0}), "png");
  EXPECT_EQ(image_format(Bytes{0xff, 0xd8, 0xff, 0xe0}), "jpeg");
  EXPECT_EQ(image_format(Bytes{'R', 'I', 'F', 'F', 1, 2, 3, 4, 'W', 'E', 'B', 'P'}), "webp");
  EXPECT_EQ(image_format(Bytes{'R', 'I', 'F', 'F', 1, 2, 3, 4, 'W', 'A', 'V', 'E'}), "");  // audio
  EXPECT_EQ(image_format(Bytes{0x89, 'P', 'N', 'G'}), "");  // too short to be sure
  EXPECT_EQ(image_format(Bytes{'G', 'I', 'F', '8', '9', 'a'}), "");
  EXPECT_EQ(image_format(Bytes{}), "");
  EXPECT_EQ(image_format(encode_png(png_spec(1, 1, PNG_COLOR_TYPE_RGB, 8, false), {1, 2, 3})), "png");
  EXPECT_EQ(image_format(encode_jpeg({.width = 8, .height = 8}, smooth_rgb(8, 8))), "jpeg");
  EXPECT_EQ(image_format(encode_webp(2, 2, Bytes(12, 9), false, WebpKind::kLossless)), "webp");
}

TEST(ImageDecodeErrors, UnknownFormatsAreNamed) {
  EXPECT_EQ(error_of([] { decode_image(Bytes{}, "messages[0].images[1]"); }),
            "messages[0].images[1] is empty (0 bytes); expected a PNG, JPEG or WebP image");
  const std::string gif = error_of([] { decode_image(Bytes{'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0}, "cat.gif"); });
  EXPECT_EQ(gif, "cat.gif is not a PNG, JPEG or WebP image (it looks like GIF)");
  const std::string bmp = error_of([] { decode_image(Bytes{'B', 'M', 0x46, 0, 0, 0, 0, 0}, "x.bmp"); });
  EXPECT_EQ(bmp, "x.bmp is not a PNG, JPEG or WebP image (it looks like BMP)");
  const std::string noise = error_of([] { decode_image(Bytes{1, 2, 3, 4, 5}, "blob"); });
  EXPECT_NE(noise.find("blob is not a PNG, JPEG or WebP image"), std::string::npos) << noise;
}

TEST(ImageDecodeErrors, RandomBytesAfterEachMagicNumberAreRefused) {
  const std::vector<Bytes> magics = {{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'},
                                     {0xff, 0xd8, 0xff},
                                     {'R', 'I', 'F', 'F', 0, 1, 0, 0, 'W', 'E', 'B', 'P'},
                                     {}};
  for (unsigned seed = 0; seed < 40; ++seed) {
    for (const Bytes& magic : magics) {
      Bytes input = magic;
      const auto noise = random_samples(1 + seed * 37, 255, seed);
      input.insert(input.end(), noise.begin(), noise.end());
      EXPECT_THROW(decode_image(input, "noise"), Error) << "seed " << seed;
    }
  }
}

std::vector<Bytes> sample_files() {
  const int w = 40, h = 30;
  const Bytes rgb = to_bytes(random_samples(size_t(w) * h * 3, 255, 11));
  return {encode_png(png_spec(w, h, PNG_COLOR_TYPE_RGB, 8, false), random_samples(size_t(w) * h * 3, 255, 11)),
          encode_png(png_spec(w, h, PNG_COLOR_TYPE_RGB, 8, true), random_samples(size_t(w) * h * 3, 255, 11)),
          encode_jpeg({.width = w, .height = h, .quality = 90}, rgb),
          encode_jpeg({.width = w, .height = h, .quality = 90, .progressive = true}, rgb),
          encode_webp(w, h, rgb, false, WebpKind::kLossless),
          encode_webp(w, h, rgb, false, WebpKind::kLossy)};
}

TEST(ImageDecodeErrors, TruncatedFilesThrowAtEveryCut) {
  for (const Bytes& file : sample_files()) {
    ASSERT_NO_THROW(decode_image(file, "whole"));
    // A PNG's last 12 bytes are the IEND chunk, which carries no pixels; every other cut loses data.
    const size_t keep_at_most = image_format(file) == "png" ? file.size() - 13 : file.size() - 1;
    for (size_t cut : {size_t{1}, size_t{2}, size_t{3}, size_t{8}, size_t{12}, size_t{16}, size_t{20},
                       size_t{33}, file.size() / 4, file.size() / 2, file.size() * 3 / 4, keep_at_most}) {
      const Bytes part(file.begin(), file.begin() + std::ptrdiff_t(std::min(cut, keep_at_most)));
      EXPECT_THROW(decode_image(part, "cut"), Error) << image_format(file) << " cut at " << cut << " of " << file.size();
    }
  }
}

TEST(ImageDecodeErrors, CorruptedBytesEitherDecodeOrThrowFacetError) {
  // Random bytes flipped in valid files: any outcome but a crash or another exception type.
  std::mt19937 rng(12);
  for (const Bytes& file : sample_files()) {
    for (int trial = 0; trial < 150; ++trial) {
      Bytes broken = file;
      for (int flips = 1 + int(rng() % 4); flips > 0; --flips) broken[rng() % broken.size()] = uint8_t(rng());
      try {
        const RgbImage image = decode_image(broken, "broken");
        EXPECT_EQ(image.pixels.size(), size_t(image.width) * size_t(image.height) * 3);
      } catch (const Error&) {
      }
    }
  }
}

// CRC-32 of PNG chunks (ISO 3309 polynomial, reflected), so a hand-made header is well formed.
uint32_t crc32(const uint8_t* data, size_t size) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_be32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(uint8_t(v >> shift));
}

// A PNG with a valid IHDR of the given size and no pixel data.
Bytes png_header_only(uint32_t width, uint32_t height) {
  Bytes file = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes chunk = {'I', 'H', 'D', 'R'};
  put_be32(chunk, width);
  put_be32(chunk, height);
  chunk.insert(chunk.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, no interlace
  put_be32(file, 13);
  file.insert(file.end(), chunk.begin(), chunk.end());
  put_be32(file, crc32(chunk.data(), chunk.size()));
  // libpng reads the header up to the first IDAT: an empty one, then IEND.
  for (const char* type : {"IDAT", "IEND"}) {
    put_be32(file, 0);
    file.insert(file.end(), type, type + 4);
    put_be32(file, crc32(file.data() + file.size() - 4, 4));
  }
  return file;
}

TEST(ImageDecodeErrors, HugeImagesAreRefusedFromTheirHeaders) {
  // 100000 x 100000 RGB would need 30 GB; the header alone must be enough to refuse it.
  const std::string png = error_of([] { decode_image(png_header_only(100000, 100000), "huge.png"); });
  EXPECT_EQ(png, "huge.png is a 100000x100000 PNG image, over the limit of 16384 pixels on a side");
  const std::string by_area = error_of([] {
    decode_image(png_header_only(100000, 100000), "huge.png", ImageLimits{.max_pixels = 50'000'000, .max_side = 200000});
  });
  EXPECT_EQ(by_area, "huge.png is a 100000x100000 PNG image (10000000000 pixels), over the limit of 50000000 pixels");
  // The IHDR is well formed: with room for it, the header passes and the missing IDAT is the error.
  EXPECT_NE(error_of([] { decode_image(png_header_only(4, 4), "small.png"); }).find("corrupt or truncated PNG"),
            std::string::npos);

  // A JPEG whose SOF claims 60000 x 60000.
  Bytes jpeg = encode_jpeg({.width = 16, .height = 16}, smooth_rgb(16, 16));
  for (size_t i = 0; i + 9 < jpeg.size(); ++i)
    if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0) {
      jpeg[i + 5] = jpeg[i + 7] = 60000 >> 8;
      jpeg[i + 6] = jpeg[i + 8] = 60000 & 0xff;
      break;
    }
  EXPECT_EQ(error_of([&] { decode_image(jpeg, "huge.jpg"); }),
            "huge.jpg is a 60000x60000 JPEG image, over the limit of 16384 pixels on a side");

  // Every format against a small caller limit.
  const ImageLimits tiny{.max_pixels = 1000, .max_side = 16384};
  for (const Bytes& file : sample_files())
    EXPECT_NE(error_of([&] { decode_image(file, "f", tiny); }).find("40x30"), std::string::npos);
}

TEST(ImageDecodeFiles, ReadsAFileAndNamesMissingOnes) {
  test::TempDir dir;
  const auto samples = random_samples(5 * 4 * 3, 255, 13);
  test::write_bytes(dir.file("a.png"), encode_png(png_spec(5, 4, PNG_COLOR_TYPE_RGB, 8, false), samples));
  expect_image(read_image_file(dir.file("a.png")), 5, 4, to_bytes(samples));
  EXPECT_NE(error_of([&] { read_image_file(dir.file("missing.png")); }).find("missing.png"), std::string::npos);
  test::write_bytes(dir.file("empty.png"), {});
  EXPECT_NE(error_of([&] { read_image_file(dir.file("empty.png")); }).find("empty.png is empty"), std::string::npos);
}

}  // namespace
}  // namespace facet
