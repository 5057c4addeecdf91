// Gemma 4 vision preprocessing (media/image_preprocess.h) against references written here:
// - target sizes: the worked examples of the research notes (facts), and an exact-integer form of
//   HF's rule (th is the largest multiple of 48 with th² * W <= budget * H), written without the
//   float64 steps of the code under test;
// - resize: a plain double-precision antialiased bicubic that weighs every source pixel of the
//   row/column (no windows, no shared tables), and outputs of PIL 9.4's Image.resize(BICUBIC) on
//   small generated images. Exact PIL parity is not claimed (PIL's weights are 22-bit fixed
//   point; ties and near-ties can round the other way), so comparisons allow 1 unit;
// - patches: the layout checked at hand-computed indices and against every pixel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "media/image_preprocess.h"
#include "util/error.h"

namespace facet {
namespace {

// ---- images ---------------------------------------------------------------------------------

// The pattern the PIL facts below were made from (the same formula in Python).
uint8_t pattern_value(int x, int y, int c) {
  return uint8_t((x * 37 + y * 91 + c * 53 + x * y * 7) & 255);
}

RgbImage pattern_image(int w, int h) {
  RgbImage image;
  image.width = w;
  image.height = h;
  image.pixels.resize(size_t(w) * size_t(h) * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        image.pixels[(size_t(y) * w + x) * 3 + c] = pattern_value(x, y, c);
  return image;
}

// Smooth gradients plus noise: closer to a photo than the pattern, still with edges.
RgbImage random_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-40, 40);
  RgbImage image;
  image.width = w;
  image.height = h;
  image.pixels.resize(size_t(w) * size_t(h) * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const int base = (c == 0   ? x * 255 / std::max(w - 1, 1)
                          : c == 1 ? y * 255 / std::max(h - 1, 1)
                                   : 128);
        image.pixels[(size_t(y) * w + x) * 3 + c] = uint8_t(std::clamp(base + noise(rng), 0, 255));
      }
  return image;
}

int pixel(const RgbImage& image, int x, int y, int c) {
  return image.pixels[(size_t(y) * image.width + x) * 3 + c];
}

// ---- target size reference ------------------------------------------------------------------

// HF's rule in exact integers: side = 48, budget = tokens * 9 * 256 pixels. The float64 rule
// th = floor(sqrt(budget / (H W)) * H / 48) * 48 is the largest multiple of 48 with
// th <= sqrt(budget * H / W), i.e. th² * W <= budget * H. (Sizes in these tests stay off the
// exact boundaries, where float64 rounding could decide either way.)
ImageSize reference_target(int width, int height, int tokens) {
  const int64_t side = 48, budget = int64_t(tokens) * 9 * 256;
  auto largest = [&](int64_t along, int64_t across) {
    int64_t t = 0;
    while ((t + side) * (t + side) * across <= budget * along) t += side;
    return t;
  };
  int64_t th = largest(height, width), tw = largest(width, height);
  if (th == 0) {
    th = side;
    tw = std::min(int64_t(width / height) * side, int64_t(tokens) * side);
  } else if (tw == 0) {
    tw = side;
    th = std::min(int64_t(height / width) * side, int64_t(tokens) * side);
  }
  return ImageSize{int(tw), int(th)};
}

VisionPreprocessConfig budget(int tokens) {
  VisionPreprocessConfig config;
  config.max_soft_tokens = tokens;
  return config;
}

// ---- resize reference -----------------------------------------------------------------------

double cubic(double x) {  // Keys, a = -0.5
  const double a = -0.5, t = std::fabs(x);
  if (t < 1) return (a + 2) * t * t * t - (a + 3) * t * t + 1;
  if (t < 2) return a * t * t * t - 5 * a * t * t + 8 * a * t - 4 * a;
  return 0;
}

// Weight of every source index for output index `out_index`: pixel centres at i + 0.5, output
// centre at (out_index + 0.5) * scale, kernel stretched by the scale when shrinking, weights
// normalised over the source pixels that exist (no mirroring at the edges).
std::vector<double> reference_weights(int in_size, int out_size, int out_index) {
  const double scale = double(in_size) / out_size;
  const double stretch = scale > 1 ? scale : 1.0;
  const double center = (out_index + 0.5) * scale;
  std::vector<double> w(size_t(in_size), 0.0);
  double sum = 0;
  for (int i = 0; i < in_size; ++i) {
    w[size_t(i)] = cubic((i + 0.5 - center) / stretch);
    sum += w[size_t(i)];
  }
  for (double& v : w) v /= sum;
  return w;
}

int round_clamp(double v) { return std::clamp(int(std::floor(v + 0.5)), 0, 255); }

// Horizontal pass, rounded to uint8, then vertical pass (PIL's order and intermediate rounding);
// an axis whose size does not change is copied.
RgbImage reference_resize(const RgbImage& in, int out_w, int out_h) {
  RgbImage mid;
  mid.width = out_w;
  mid.height = in.height;
  mid.pixels.resize(size_t(out_w) * in.height * 3);
  for (int x = 0; x < out_w; ++x) {
    const std::vector<double> w = reference_weights(in.width, out_w, x);
    for (int y = 0; y < in.height; ++y)
      for (int c = 0; c < 3; ++c) {
        double acc = 0;
        for (int i = 0; i < in.width; ++i) acc += w[size_t(i)] * pixel(in, i, y, c);
        mid.pixels[(size_t(y) * out_w + x) * 3 + c] =
            uint8_t(out_w == in.width ? pixel(in, x, y, c) : round_clamp(acc));
      }
  }
  RgbImage out;
  out.width = out_w;
  out.height = out_h;
  out.pixels.resize(size_t(out_w) * out_h * 3);
  for (int y = 0; y < out_h; ++y) {
    const std::vector<double> w = reference_weights(in.height, out_h, y);
    for (int x = 0; x < out_w; ++x)
      for (int c = 0; c < 3; ++c) {
        double acc = 0;
        for (int i = 0; i < in.height; ++i) acc += w[size_t(i)] * pixel(mid, x, i, c);
        out.pixels[(size_t(y) * out_w + x) * 3 + c] =
            uint8_t(out_h == in.height ? pixel(mid, x, y, c) : round_clamp(acc));
      }
  }
  return out;
}

// Every value within `max_diff` of the expectation; returns how many differ at all.
size_t expect_close_bytes(const RgbImage& got, const RgbImage& want, int max_diff,
                          const char* what) {
  EXPECT_EQ(got.width, want.width) << what;
  EXPECT_EQ(got.height, want.height) << what;
  EXPECT_EQ(got.pixels.size(), want.pixels.size()) << what;
  size_t differing = 0;
  for (size_t i = 0; i < std::min(got.pixels.size(), want.pixels.size()); ++i) {
    const int d = std::abs(int(got.pixels[i]) - int(want.pixels[i]));
    EXPECT_LE(d, max_diff) << what << " at byte " << i << " (pixel " << i / 3 << ", channel "
                           << i % 3 << ")";
    if (d != 0) ++differing;
  }
  return differing;
}

// ---- facts: PIL 9.4 Image.resize(size, Image.BICUBIC) on pattern_image, bytes in RGB order ----

const uint8_t kPil12x9To5x4[] = {99,  131, 144, 121, 132, 149, 127, 130, 132, 110, 127, 141,
                                 115, 128, 123, 125, 133, 126, 142, 140, 137, 142, 133, 123,
                                 127, 126, 126, 139, 133, 142, 112, 155, 124, 125, 130, 109,
                                 151, 134, 126, 118, 138, 111, 147, 115, 112, 131, 101, 148,
                                 134, 116, 147, 118, 121, 122, 125, 130, 127, 132, 95,  149};
const uint8_t kPil6x5To13x8[] = {
    0,   44,  97,  0,   51,  104, 15,  68,  120, 34,  87,  141, 51,  102, 168, 67,  121, 192, 84,
    147, 211, 102, 173, 226, 126, 191, 255, 153, 207, 255, 174, 226, 186, 190, 242, 58,  197, 250,
    4,   30,  80,  147, 36,  91,  157, 54,  116, 182, 76,  142, 186, 101, 168, 144, 125, 175, 114,
    151, 139, 128, 163, 103, 153, 133, 111, 179, 92,  136, 192, 96,  157, 162, 121, 175, 106, 131,
    184, 82,  93,  147, 189, 102, 154, 202, 124, 170, 237, 146, 191, 224, 161, 227, 112, 178, 225,
    26,  214, 125, 35,  223, 24,  71,  137, 22,  93,  25,  58,  113, 12,  83,  135, 47,  104, 155,
    60,  113, 163, 168, 240, 68,  181, 203, 80,  216, 119, 108, 211, 66,  122, 127, 92,  102, 63,
    118, 93,  82,  102, 122, 113, 88,  158, 102, 112, 193, 83,  148, 213, 105, 178, 162, 142, 200,
    83,  158, 210, 48,  136, 208, 36,  150, 172, 49,  186, 89,  77,  184, 39,  112, 102, 65,  151,
    40,  106, 176, 59,  145, 164, 101, 174, 150, 139, 168, 178, 172, 150, 206, 172, 167, 159, 155,
    196, 81,  149, 209, 47,  16,  70,  111, 28,  79,  125, 55,  100, 155, 84,  128, 190, 105, 158,
    233, 128, 188, 237, 158, 231, 141, 188, 246, 46,  229, 166, 51,  254, 61,  93,  186, 53,  124,
    80,  95,  149, 35,  111, 160, 58,  110, 192, 71,  129, 169, 99,  173, 117, 136, 188, 91,  181,
    137, 126, 201, 99,  153, 157, 129, 127, 111, 162, 102, 131, 143, 128, 169, 113, 163, 159, 129,
    142, 129, 164, 96,  116, 179, 77,  108, 161, 240, 123, 180, 191, 153, 226, 78,  189, 220, 7,
    238, 107, 34,  242, 22,  79,  142, 39,  120, 40,  86,  159, 44,  125, 205, 92,  165, 231, 136,
    202, 161, 175, 231, 47,  194, 245, 0};
const uint8_t kPil20x6To9x13[] = {
    15,  68,  126, 99,  171, 229, 199, 170, 95,  47,  44,  111, 87,  161, 183, 197, 190, 28,  69,
    46,  115, 78,  145, 189, 170, 222, 46,  38,  94,  141, 113, 156, 195, 167, 155, 113, 73,  78,
    121, 94,  142, 165, 172, 183, 56,  97,  74,  98,  80,  132, 182, 161, 215, 63,  90,  154, 178,
    148, 121, 112, 89,  119, 154, 136, 157, 145, 111, 95,  121, 116, 169, 120, 163, 139, 56,  81,
    101, 167, 140, 198, 101, 137, 185, 182, 157, 99,  73,  57,  105, 170, 165, 195, 162, 130, 81,
    96,  80,  144, 159, 197, 187, 49,  94,  80,  143, 117, 178, 141, 172, 150, 111, 106, 106, 133,
    128, 138, 128, 118, 137, 162, 153, 141, 111, 94,  97,  136, 164, 191, 114, 124, 80,  108, 95,
    158, 179, 177, 116, 66,  78,  124, 182, 184, 161, 98,  85,  88,  149, 159, 182, 133, 114, 77,
    114, 121, 179, 169, 152, 92,  83,  81,  137, 199, 114, 109, 116, 130, 157, 156, 157, 139, 123,
    122, 105, 108, 120, 147, 157, 128, 133, 121, 79,  150, 173, 172, 120, 80,  80,  115, 184, 57,
    115, 172, 185, 179, 121, 122, 114, 151, 163, 133, 76,  88,  104, 169, 137, 193, 136, 58,  121,
    158, 181, 149, 91,  91,  99,  157, 94,  137, 153, 168, 151, 126, 139, 130, 130, 151, 131, 105,
    124, 112, 141, 132, 190, 150, 104, 114, 136, 166, 167, 116, 128, 102, 135, 156, 164, 111, 129,
    108, 139, 169, 155, 99,  121, 123, 151, 177, 135, 101, 122, 160, 161, 171, 118, 110, 142, 175,
    146, 168, 111, 117, 147, 167, 101, 127, 109, 121, 159, 143, 110, 108, 137, 148, 166, 138, 87,
    120, 129, 150, 186, 137, 103, 139, 159, 164, 163, 98,  116, 106, 157, 107, 140, 130, 92,  133,
    117, 139, 102, 160, 123, 125, 132, 87,  121, 99,  129, 176, 161, 106, 145, 131, 174, 135, 78,
    124, 89,  154, 108, 145, 139, 80,  122, 106, 152, 100, 170, 112, 109, 130, 86,  121, 85,  119,
    172, 171, 107, 148, 119, 178, 124, 70,  127};

RgbImage from_bytes(int w, int h, const uint8_t* bytes) {
  RgbImage image;
  image.width = w;
  image.height = h;
  image.pixels.assign(bytes, bytes + size_t(w) * h * 3);
  return image;
}

// ---- vision_target_size -----------------------------------------------------------------------

TEST(MediaImagePreprocessTarget, WorkedExamplesAtTheDefaultBudget) {
  // Facts from the research notes (H x W -> th x tw, tokens), written here as width, height.
  struct Case {
    int w, h, tw, th, tokens;
  };
  const Case cases[] = {
      {1024, 768, 912, 672, 266},  // 768x1024 -> 672x912
      {224, 224, 768, 768, 256},   // upscaled to fill the budget
      {640, 480, 912, 672, 266},
      {2000, 100, 3552, 144, 222},  // H=100, W=2000
  };
  for (const Case& c : cases) {
    const ImageSize got = vision_target_size(c.w, c.h, VisionPreprocessConfig{});
    EXPECT_EQ(got.width, c.tw) << c.w << "x" << c.h;
    EXPECT_EQ(got.height, c.th) << c.w << "x" << c.h;
    EXPECT_EQ((got.width / 48) * (got.height / 48), c.tokens) << c.w << "x" << c.h;
  }
}

TEST(MediaImagePreprocessTarget, AllBudgetsAgreeWithTheExactIntegerRule) {
  const int sizes[][2] = {{1024, 768}, {768, 1024},  {224, 224},   {640, 480},
                          {2000, 100}, {100, 2000},  {1920, 1080}, {1080, 1920},
                          {333, 777},  {4032, 3024}, {50, 37},     {5000, 20},
                          {17, 4000},  {1, 1},       {3, 2},       {896, 896}};
  for (int tokens : {70, 140, 280, 560, 1120}) {
    for (const auto& s : sizes) {
      const ImageSize want = reference_target(s[0], s[1], tokens);
      const ImageSize got = vision_target_size(s[0], s[1], budget(tokens));
      EXPECT_EQ(got.width, want.width) << s[0] << "x" << s[1] << " budget " << tokens;
      EXPECT_EQ(got.height, want.height) << s[0] << "x" << s[1] << " budget " << tokens;
      EXPECT_EQ(got.width % 48, 0);
      EXPECT_EQ(got.height % 48, 0);
      EXPECT_LE(int64_t(got.width) * got.height, int64_t(tokens) * 9 * 256) << s[0] << "x" << s[1];
    }
  }
}

TEST(MediaImagePreprocessTarget, SmallAndLargeBudgetsOnHandComputedSizes) {
  // Budget 70 (161,280 px): 1024x768 -> factor sqrt(161280/786432) = 0.4529, 463.7 -> 432,
  // 347.8 -> 336: 432x336, 9*7 = 63 tokens.
  ImageSize got = vision_target_size(1024, 768, budget(70));
  EXPECT_EQ(got.width, 432);
  EXPECT_EQ(got.height, 336);
  // Budget 1120 (2,580,480 px): 224x224 -> sqrt(2580480) = 1606.4 -> 1584 (33*48), 1089 tokens.
  got = vision_target_size(224, 224, budget(1120));
  EXPECT_EQ(got.width, 1584);
  EXPECT_EQ(got.height, 1584);
}

TEST(MediaImagePreprocessTarget, ExtremeAspectRatios) {
  // Wider than 280:1 the height rounds to 0: one row of 48 px, width capped at 280 * 48.
  ImageSize got = vision_target_size(100000, 1, VisionPreprocessConfig{});
  EXPECT_EQ(got.height, 48);
  EXPECT_EQ(got.width, 13440);
  got = vision_target_size(1, 100000, VisionPreprocessConfig{});
  EXPECT_EQ(got.width, 48);
  EXPECT_EQ(got.height, 13440);
  // 281:1 still takes the edge case (factor * 1 = 47.9 < 48); floor(281) * 48 is capped.
  got = vision_target_size(281, 1, VisionPreprocessConfig{});
  EXPECT_EQ(got.height, 48);
  EXPECT_EQ(got.width, 13440);
  // 279:1 does not (factor = 48.09): th = 48, tw = floor(48.09 * 279 / 48) * 48 = 279 * 48.
  got = vision_target_size(279, 1, VisionPreprocessConfig{});
  EXPECT_EQ(got.height, 48);
  EXPECT_EQ(got.width, 279 * 48);
  // 1:100 at budget 70: factor * W = sqrt(161280 * 10 / 1000) = 40.16 -> width 0 -> 48, height
  // min(floor(1000 / 10), 70) * 48.
  got = vision_target_size(10, 1000, budget(70));
  EXPECT_EQ(got.width, 48);
  EXPECT_EQ(got.height, 70 * 48);
}

TEST(MediaImagePreprocessTarget, RejectsBadConfigsAndEmptySizes) {
  VisionPreprocessConfig config;
  config.max_soft_tokens = 100;
  EXPECT_THROW(vision_target_size(640, 480, config), Error);
  config = VisionPreprocessConfig{};
  config.patch_size = 0;
  EXPECT_THROW(vision_target_size(640, 480, config), Error);
  config = VisionPreprocessConfig{};
  config.pooling_kernel = -3;
  EXPECT_THROW(vision_target_size(640, 480, config), Error);
  EXPECT_THROW(vision_target_size(0, 480, VisionPreprocessConfig{}), Error);
  EXPECT_THROW(vision_target_size(640, -1, VisionPreprocessConfig{}), Error);
  // The message names the field and the allowed budgets.
  try {
    VisionPreprocessConfig bad;
    bad.max_soft_tokens = 256;
    validate_vision_config(bad);
    FAIL() << "max_soft_tokens 256 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_soft_tokens"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1120"), std::string::npos) << e.what();
  }
  // HF's two error branches (both sides 0, area over the budget) cannot be reached with a valid
  // config: the budget is at least one 48x48 cell and the edge case fills at most the budget.
}

// ---- resize_bicubic -------------------------------------------------------------------------

TEST(MediaImagePreprocessResize, MatchesPilOnSmallImages) {
  // PIL's 22-bit fixed-point weights move a sum by up to ~1e-5, so a value that is (nearly) a
  // tie, x.5, can round the other way: one unit. At an edge of an upscale the renormalised
  // weights reach 1.07 (e.g. -0.072, 1.072 for the last row of 5 -> 8), so a flipped
  // horizontal-pass byte can come out of the vertical pass two units away: that happens once
  // here (6x5 -> 13x8, byte 290: the intermediate value is exactly 90.5).
  size_t differing = 0;
  differing += expect_close_bytes(resize_bicubic(pattern_image(12, 9), 5, 4),
                                  from_bytes(5, 4, kPil12x9To5x4), 1, "12x9->5x4");
  differing += expect_close_bytes(resize_bicubic(pattern_image(6, 5), 13, 8),
                                  from_bytes(13, 8, kPil6x5To13x8), 2, "6x5->13x8");
  differing += expect_close_bytes(resize_bicubic(pattern_image(20, 6), 9, 13),
                                  from_bytes(9, 13, kPil20x6To9x13), 1, "20x6->9x13");
  EXPECT_LE(differing, size_t(6)) << "of " << (60 + 312 + 351) << " values";
}

TEST(MediaImagePreprocessResize, MatchesTheDoublePrecisionReference) {
  struct Case {
    int w, h, ow, oh;
  };
  const Case cases[] = {
      {64, 48, 19, 13},  // strong downscale, non-integer ratios (antialias widens the kernel)
      {37, 23, 80, 50},  // upscale
      {40, 10, 17, 31},  // down in x, up in y
      {13, 29, 26, 29},  // x only (height kept: one pass)
      {30, 17, 30, 5},   // y only
      {1, 7, 5, 3},      // one-pixel column stretched
      {300, 2, 1, 1},    // everything averaged into one pixel
      {48, 48, 47, 49},  // near-identity
  };
  uint32_t seed = 1;
  for (const Case& c : cases) {
    const RgbImage image = random_image(c.w, c.h, seed++);
    const RgbImage got = resize_bicubic(image, c.ow, c.oh);
    const RgbImage want = reference_resize(image, c.ow, c.oh);
    // Both sides are double: they can only disagree where a sum is within an ulp of x.5.
    const size_t differing = expect_close_bytes(got, want, 1, "random image");
    EXPECT_LE(differing, got.pixels.size() / 50 + 1)
        << c.w << "x" << c.h << " -> " << c.ow << "x" << c.oh;
    const RgbImage pattern = pattern_image(c.w, c.h);
    expect_close_bytes(resize_bicubic(pattern, c.ow, c.oh), reference_resize(pattern, c.ow, c.oh),
                       1, "pattern image");
  }
}

TEST(MediaImagePreprocessResize, SameSizeIsTheIdentity) {
  const RgbImage image = random_image(31, 17, 7);
  const RgbImage got = resize_bicubic(image, 31, 17);
  EXPECT_EQ(got.width, 31);
  EXPECT_EQ(got.height, 17);
  EXPECT_EQ(got.pixels, image.pixels);
}

TEST(MediaImagePreprocessResize, ConstantImageStaysConstant) {
  RgbImage image;
  image.width = 23;
  image.height = 11;
  for (int i = 0; i < 23 * 11; ++i) image.pixels.insert(image.pixels.end(), {200, 7, 255});
  for (const auto& size :
       {std::pair{5, 3}, std::pair{70, 40}, std::pair{23, 40}, std::pair{1, 1}}) {
    const RgbImage got = resize_bicubic(image, size.first, size.second);
    ASSERT_EQ(got.pixels.size(), size_t(size.first) * size.second * 3);
    for (size_t i = 0; i < got.pixels.size(); i += 3) {
      EXPECT_EQ(got.pixels[i], 200);
      EXPECT_EQ(got.pixels[i + 1], 7);
      EXPECT_EQ(got.pixels[i + 2], 255);
    }
  }
}

TEST(MediaImagePreprocessResize, HalvingAnEdgeBlursItSymmetrically) {
  // Black left half, white right half, 8 -> 4 wide: by symmetry the outputs mirror each other
  // (out[x] + out[3 - x] = 255 up to rounding) and the antialias makes the edge ramp, not step.
  RgbImage image;
  image.width = 8;
  image.height = 1;
  for (int x = 0; x < 8; ++x) image.pixels.insert(image.pixels.end(), 3, uint8_t(x < 4 ? 0 : 255));
  const RgbImage got = resize_bicubic(image, 4, 1);
  ASSERT_EQ(got.pixels.size(), size_t(12));
  for (int x = 0; x < 4; ++x) EXPECT_NEAR(pixel(got, x, 0, 0) + pixel(got, 3 - x, 0, 0), 255, 1);
  EXPECT_GT(pixel(got, 1, 0, 0), 0);
  EXPECT_LT(pixel(got, 1, 0, 0), 128);
}

TEST(MediaImagePreprocessResize, RejectsBadInput) {
  RgbImage empty;
  EXPECT_THROW(resize_bicubic(empty, 4, 4), Error);
  RgbImage short_pixels = random_image(4, 4, 1);
  short_pixels.pixels.pop_back();
  EXPECT_THROW(resize_bicubic(short_pixels, 4, 4), Error);
  EXPECT_THROW(resize_bicubic(random_image(4, 4, 1), 0, 4), Error);
  EXPECT_THROW(resize_bicubic(random_image(4, 4, 1), 4, -2), Error);
}

// ---- image_to_patches -------------------------------------------------------------------------

TEST(MediaImagePreprocessPatches, LayoutOfAnImageThatNeedsNoResize) {
  // 912x672 is its own target at budget 280 (see the worked examples), so no resampling:
  // every value is a pixel of the input / 255. 57 patch columns, 42 patch rows.
  const RgbImage image = pattern_image(912, 672);
  const ImagePatches got = image_to_patches(image, VisionPreprocessConfig{});
  EXPECT_EQ(got.patch_cols, 57);
  EXPECT_EQ(got.patch_rows, 42);
  EXPECT_EQ(got.soft_tokens, 266);  // 19 * 14
  ASSERT_EQ(got.values.size(), size_t(57 * 42 * 768));
  // Hand-computed indices: patch 0, value 0 is pixel (0, 0) red.
  EXPECT_FLOAT_EQ(got.values[0], pattern_value(0, 0, 0) / 255.0f);
  // Patch 1 starts at pixel (16, 0): value 768.
  EXPECT_FLOAT_EQ(got.values[768], pattern_value(16, 0, 0) / 255.0f);
  // Value 1 of patch 0 is pixel (0, 0) green, value 3 is pixel (1, 0) red, value 48 is (0, 1) red.
  EXPECT_FLOAT_EQ(got.values[1], pattern_value(0, 0, 1) / 255.0f);
  EXPECT_FLOAT_EQ(got.values[3], pattern_value(1, 0, 0) / 255.0f);
  EXPECT_FLOAT_EQ(got.values[48], pattern_value(0, 1, 0) / 255.0f);
  // Patch 57 is the first of patch row 1: pixel (0, 16). 57 * 768 = 43776.
  EXPECT_FLOAT_EQ(got.values[43776], pattern_value(0, 16, 0) / 255.0f);
  // Patch 120 = row 2, column 6; py = 5, px = 11, blue: pixel (6*16+11, 2*16+5) = (107, 37),
  // index 120 * 768 + (5 * 16 + 11) * 3 + 2 = 92160 + 275 = 92435.
  EXPECT_FLOAT_EQ(got.values[92435], pattern_value(107, 37, 2) / 255.0f);
  // The last value: patch 2393 (row 41, column 56), py = px = 15, blue: pixel (911, 671).
  EXPECT_FLOAT_EQ(got.values.back(), pattern_value(911, 671, 2) / 255.0f);
  // And every value, by the (row, col, py, px, c) formula.
  for (int pr = 0; pr < 42; ++pr)
    for (int pc = 0; pc < 57; ++pc)
      for (int py = 0; py < 16; ++py)
        for (int px = 0; px < 16; ++px)
          for (int c = 0; c < 3; ++c) {
            const size_t index = size_t(pr * 57 + pc) * 768 + size_t(py * 16 + px) * 3 + size_t(c);
            const double want = pattern_value(pc * 16 + px, pr * 16 + py, c) / 255.0;
            ASSERT_NEAR(got.values[index], want, 1e-7)
                << "patch (" << pr << ", " << pc << ") py " << py << " px " << px;
          }
}

TEST(MediaImagePreprocessPatches, ResizedImageAtBudget70) {
  // 100x75 at budget 70: the exact rule gives the target; the values are the resized pixels / 255.
  const RgbImage image = random_image(100, 75, 42);
  const ImageSize target = reference_target(100, 75, 70);
  EXPECT_EQ(target.width, 432);   // sqrt(161280 * 100 / 75) = 463.7
  EXPECT_EQ(target.height, 336);  // sqrt(161280 * 75 / 100) = 347.8
  const ImagePatches got = image_to_patches(image, budget(70));
  EXPECT_EQ(got.patch_cols, 27);
  EXPECT_EQ(got.patch_rows, 21);
  EXPECT_EQ(got.soft_tokens, 63);  // 9 * 7
  ASSERT_EQ(got.values.size(), size_t(27 * 21 * 768));
  const RgbImage want = reference_resize(image, 432, 336);
  for (int pr = 0; pr < 21; ++pr)
    for (int pc = 0; pc < 27; ++pc)
      for (int py = 0; py < 16; ++py)
        for (int px = 0; px < 16; ++px)
          for (int c = 0; c < 3; ++c) {
            const size_t index = size_t(pr * 27 + pc) * 768 + size_t(py * 16 + px) * 3 + size_t(c);
            const double v = got.values[index];
            ASSERT_GE(v, 0.0);
            ASSERT_LE(v, 1.0);
            ASSERT_NEAR(v, pixel(want, pc * 16 + px, pr * 16 + py, c) / 255.0, 1.0 / 255.0 + 1e-7);
          }
}

TEST(MediaImagePreprocessPatches, SmallImageIsUpscaledToFillTheBudget) {
  const ImagePatches got = image_to_patches(random_image(3, 2, 9), VisionPreprocessConfig{});
  const ImageSize want = reference_target(3, 2, 280);  // 960x624: 20 * 13 = 260 tokens
  EXPECT_EQ(got.patch_cols, want.width / 16);
  EXPECT_EQ(got.patch_rows, want.height / 16);
  EXPECT_EQ(got.soft_tokens, (want.width / 48) * (want.height / 48));
  EXPECT_LE(got.soft_tokens, 280);
  EXPECT_EQ(got.values.size(), size_t(got.patch_cols) * got.patch_rows * 768);
}

TEST(MediaImagePreprocessPatches, RejectsBadInput) {
  EXPECT_THROW(image_to_patches(RgbImage{}, VisionPreprocessConfig{}), Error);
  RgbImage wrong = random_image(10, 10, 3);
  wrong.pixels.resize(299);
  EXPECT_THROW(image_to_patches(wrong, VisionPreprocessConfig{}), Error);
  VisionPreprocessConfig config;
  config.max_soft_tokens = 0;
  EXPECT_THROW(image_to_patches(random_image(10, 10, 3), config), Error);
  config = VisionPreprocessConfig{};
  config.patch_size = -16;
  EXPECT_THROW(image_to_patches(random_image(10, 10, 3), config), Error);
}

}  // namespace
}  // namespace facet
