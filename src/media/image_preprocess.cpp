// Gemma 4 vision preprocessing as Hugging Face's Gemma4ImageProcessor does it; see the header.
#include "media/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "util/error.h"

namespace facet {
namespace {

constexpr int kSupportedSoftTokens[] = {70, 140, 280, 560, 1120};

void check_rgb_image(const RgbImage& image, const char* what) {
  require(image.width > 0 && image.height > 0, what, ": the image is empty (", image.width, "x",
          image.height, "); expected a width and height of at least 1");
  const size_t expected = size_t(image.width) * size_t(image.height) * 3;
  require(image.pixels.size() == expected, what, ": a ", image.width, "x", image.height,
          " RGB image needs ", expected, " bytes of pixels, got ", image.pixels.size());
}

// Keys' cubic convolution kernel with a = -0.5, PIL's and torchvision's BICUBIC; support 2.
double bicubic_kernel(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// For each output index along one axis: the first source index and normalised weights of the
// taps. All outputs share one stride (`taps`), unused tail weights are 0.
struct AxisWeights {
  int taps = 0;
  std::vector<int> first;
  std::vector<double> weights;  // [out_size * taps]
};

// PIL's convention: output pixel i covers source coordinates around center = (i + 0.5) * scale
// (pixel centres at index + 0.5). When shrinking, the kernel is stretched by the scale so every
// source pixel contributes (the antialias); when enlarging it keeps support 2. The window is cut
// at the image edges and the remaining weights renormalised to sum 1 (no mirroring).
AxisWeights axis_weights(int in_size, int out_size) {
  const double scale = double(in_size) / double(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = 2.0 * filter_scale;
  AxisWeights axis;
  axis.taps = int(std::ceil(support)) * 2 + 1;
  axis.first.resize(size_t(out_size));
  axis.weights.assign(size_t(out_size) * size_t(axis.taps), 0.0);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    const int lo = std::max(int(std::floor(center - support + 0.5)), 0);
    const int hi = std::min(int(std::floor(center + support + 0.5)), in_size);  // exclusive
    const int count = std::min(hi - lo, axis.taps);
    double* w = &axis.weights[size_t(i) * size_t(axis.taps)];
    double sum = 0.0;
    for (int j = 0; j < count; ++j) {
      w[j] = bicubic_kernel((lo + j + 0.5 - center) / filter_scale);
      sum += w[j];
    }
    if (sum != 0.0) {
      for (int j = 0; j < count; ++j) w[j] /= sum;
    }
    axis.first[size_t(i)] = lo;
  }
  return axis;
}

// PIL rounds half up (adds half a unit in fixed point, then shifts) and clamps to [0, 255].
uint8_t round_to_u8(double v) {
  const double r = std::floor(v + 0.5);
  if (r <= 0.0) return 0;
  if (r >= 255.0) return 255;
  return uint8_t(r);
}

RgbImage resize_horizontal(const RgbImage& in, int out_width) {
  const AxisWeights axis = axis_weights(in.width, out_width);
  RgbImage out;
  out.width = out_width;
  out.height = in.height;
  out.pixels.resize(size_t(out_width) * size_t(in.height) * 3);
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* row = &in.pixels[size_t(y) * size_t(in.width) * 3];
    uint8_t* dst = &out.pixels[size_t(y) * size_t(out_width) * 3];
    for (int x = 0; x < out_width; ++x) {
      const double* w = &axis.weights[size_t(x) * size_t(axis.taps)];
      const int first = axis.first[size_t(x)];
      const int count = std::min(axis.taps, in.width - first);
      double r = 0.0, g = 0.0, b = 0.0;
      for (int j = 0; j < count; ++j) {
        const uint8_t* p = row + size_t(first + j) * 3;
        r += w[j] * p[0];
        g += w[j] * p[1];
        b += w[j] * p[2];
      }
      dst[size_t(x) * 3 + 0] = round_to_u8(r);
      dst[size_t(x) * 3 + 1] = round_to_u8(g);
      dst[size_t(x) * 3 + 2] = round_to_u8(b);
    }
  }
  return out;
}

RgbImage resize_vertical(const RgbImage& in, int out_height) {
  const AxisWeights axis = axis_weights(in.height, out_height);
  const size_t row_values = size_t(in.width) * 3;
  RgbImage out;
  out.width = in.width;
  out.height = out_height;
  out.pixels.resize(row_values * size_t(out_height));
  std::vector<double> acc(row_values);
  for (int y = 0; y < out_height; ++y) {
    const double* w = &axis.weights[size_t(y) * size_t(axis.taps)];
    const int first = axis.first[size_t(y)];
    const int count = std::min(axis.taps, in.height - first);
    std::fill(acc.begin(), acc.end(), 0.0);
    // Whole source rows at a time: the inner loop runs over contiguous bytes.
    for (int j = 0; j < count; ++j) {
      const uint8_t* src = &in.pixels[size_t(first + j) * row_values];
      const double wj = w[j];
      for (size_t v = 0; v < row_values; ++v) acc[v] += wj * src[v];
    }
    uint8_t* dst = &out.pixels[size_t(y) * row_values];
    for (size_t v = 0; v < row_values; ++v) dst[v] = round_to_u8(acc[v]);
  }
  return out;
}

}  // namespace

void validate_vision_config(const VisionPreprocessConfig& config) {
  require(config.patch_size > 0, "vision preprocessing: patch_size must be positive, got ",
          config.patch_size);
  require(config.pooling_kernel > 0, "vision preprocessing: pooling_kernel must be positive, got ",
          config.pooling_kernel);
  const bool supported = std::find(std::begin(kSupportedSoftTokens), std::end(kSupportedSoftTokens),
                                   config.max_soft_tokens) != std::end(kSupportedSoftTokens);
  require(supported,
          "vision preprocessing: max_soft_tokens must be one of 70, 140, 280, 560, 1120 ",
          "(the budgets Gemma 4's image processor accepts), got ", config.max_soft_tokens);
  // Keep side and budget far inside int range (real configs: 48 and 645,120 pixels).
  require(int64_t(config.patch_size) * config.pooling_kernel <= 4096,
          "vision preprocessing: patch_size * pooling_kernel must be at most 4096, got ",
          config.patch_size, " * ", config.pooling_kernel);
}

ImageSize vision_target_size(int width, int height, const VisionPreprocessConfig& config) {
  validate_vision_config(config);
  require(width > 0 && height > 0, "vision target size: the image is empty (", width, "x", height,
          "); expected a width and height of at least 1");
  const int64_t side = int64_t(config.pooling_kernel) * config.patch_size;
  const int64_t max_patches =
      int64_t(config.max_soft_tokens) * config.pooling_kernel * config.pooling_kernel;
  const int64_t budget_px = max_patches * config.patch_size * config.patch_size;
  // Python float64 arithmetic, step for step as the processor writes it.
  const double factor = std::sqrt(double(budget_px) / (double(height) * double(width)));
  int64_t th = int64_t(std::floor(factor * height / double(side))) * side;
  int64_t tw = int64_t(std::floor(factor * width / double(side))) * side;
  require(th != 0 || tw != 0, "vision target size: a ", width, "x", height,
          " image would be resized to 0x0 (sides must be multiples of ", side, ")");
  const int64_t max_side =
      (max_patches / (int64_t(config.pooling_kernel) * config.pooling_kernel)) * side;
  if (th == 0) {
    // Very wide image: one row of pooled tokens, as many columns as the aspect ratio allows.
    th = side;
    tw = std::min(int64_t(std::floor(double(width) / double(height))) * side, max_side);
  } else if (tw == 0) {
    tw = side;
    th = std::min(int64_t(std::floor(double(height) / double(width))) * side, max_side);
  }
  require(th * tw <= budget_px, "vision target size: resizing ", width, "x", height, " to ", tw,
          "x", th, " would exceed the budget of ", max_patches, " patches of ", config.patch_size,
          "x", config.patch_size);
  return ImageSize{int(tw), int(th)};
}

RgbImage resize_bicubic(const RgbImage& image, int width, int height) {
  check_rgb_image(image, "bicubic resize");
  require(width > 0 && height > 0, "bicubic resize: the target size ", width, "x", height,
          " is empty; expected a width and height of at least 1");
  require(size_t(width) * size_t(height) <= (size_t(1) << 31) / 3,
          "bicubic resize: the target size ", width, "x", height, " is too large");
  // As PIL: a pass whose axis keeps its size is skipped (it would be the identity anyway).
  if (width == image.width && height == image.height) return image;
  if (height == image.height) return resize_horizontal(image, width);
  if (width == image.width) return resize_vertical(image, height);
  return resize_vertical(resize_horizontal(image, width), height);
}

ImagePatches image_to_patches(const RgbImage& image, const VisionPreprocessConfig& config) {
  validate_vision_config(config);
  check_rgb_image(image, "vision preprocessing");
  const ImageSize target = vision_target_size(image.width, image.height, config);
  RgbImage resized;
  const bool needs_resize = target.width != image.width || target.height != image.height;
  if (needs_resize) resized = resize_bicubic(image, target.width, target.height);
  const RgbImage& src = needs_resize ? resized : image;

  const int p = config.patch_size;
  ImagePatches out;
  out.patch_rows = src.height / p;
  out.patch_cols = src.width / p;
  out.soft_tokens =
      out.patch_rows * out.patch_cols / (config.pooling_kernel * config.pooling_kernel);
  const size_t patch_values = size_t(3) * size_t(p) * size_t(p);
  out.values.resize(size_t(out.patch_rows) * size_t(out.patch_cols) * patch_values);
  // HF multiplies the uint8 tensor by the Python float 1/255; PyTorch computes that in float32
  // with the factor rounded to float32, which this repeats (it can differ from v / 255.0f by
  // one float32 ulp).
  const float rescale = float(1.0 / 255.0);
  size_t o = 0;
  for (int pr = 0; pr < out.patch_rows; ++pr) {
    for (int pc = 0; pc < out.patch_cols; ++pc) {
      for (int py = 0; py < p; ++py) {
        const size_t y = size_t(pr) * size_t(p) + size_t(py);
        const uint8_t* row = &src.pixels[(y * size_t(src.width) + size_t(pc) * size_t(p)) * 3];
        for (size_t v = 0; v < size_t(p) * 3; ++v) out.values[o++] = float(row[v]) * rescale;
      }
    }
  }
  return out;
}

}  // namespace facet
