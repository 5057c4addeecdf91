// Gemma 4 vision preprocessing, following Hugging Face's Gemma4ImageProcessor (the processor
// that defines what the model saw in training), not llama.cpp's letterboxing variant:
//   1. choose a target size that keeps the aspect ratio, has both sides multiples of
//      pooling_kernel * patch_size (48) and fills the budget of max_soft_tokens * k² patches;
//   2. stretch the image to exactly that size with the antialiased bicubic filter;
//   3. rescale by 1/255 (no mean/std normalisation: mean 0, std 1);
//   4. cut into patch_size² patches, row-major over the patch grid, (py, px, channel) inside.
// Padding up to the budget and the (x, y) positions are left to the caller: patch i sits at
// x = i % patch_cols, y = i / patch_cols.
#pragma once

#include <vector>

#include "media/image.h"

namespace facet {

struct VisionPreprocessConfig {
  int patch_size = 16;
  int pooling_kernel = 3;
  int max_soft_tokens = 280;  // one of 70, 140, 280, 560, 1120, as HF's processor allows
};

// Throws facet::Error naming the bad field unless patch_size > 0, pooling_kernel > 0 and
// max_soft_tokens is one of the budgets HF's processor accepts.
void validate_vision_config(const VisionPreprocessConfig& config);

struct ImageSize {
  int width = 0, height = 0;
};

// HF's target size for a width x height image. With side = k*p and budget = max_soft_tokens*k²*p²
// pixels: factor = sqrt(budget / (H*W)); th = floor(factor*H / side) * side, tw likewise
// (float64, as Python computes it). A side that rounds to 0 becomes `side` and the other one
// min(floor(long/short) * side, max_soft_tokens * side). Both 0, or a result over the budget,
// is a facet::Error (HF raises there too).
ImageSize vision_target_size(int width, int height, const VisionPreprocessConfig& config);

// Resizes to exactly width x height (stretching, no letterbox) with the separable antialiased
// bicubic filter of PIL / torchvision (antialias=True): Keys cubic with a = -0.5, support 2,
// widened by the scale factor when shrinking; horizontal pass, then vertical, each rounding
// (half up) and clamping to uint8 as PIL does. A pass whose size does not change is skipped.
// Exact parity with PIL is not claimed: PIL turns the weights into 22-bit fixed point and
// torchvision's native uint8 path into int16 ones, while here weights and sums are double. So
// a value within their rounding error of x.5 can round the other way: one unit, or two at the
// edge of an upscale, where the renormalised edge weights exceed 1 (up to ~1.07) and amplify a
// flipped byte of the horizontal pass. Such values are rare (2 of 723 in the tests' PIL cases).
RgbImage resize_bicubic(const RgbImage& image, int width, int height);

// The image as the vision tower's input (before the tower's own 2*(p - 0.5)).
struct ImagePatches {
  int patch_rows = 0, patch_cols = 0;  // target height / patch_size, target width / patch_size
  int soft_tokens = 0;                 // patch_rows * patch_cols / pooling_kernel²
  // [patch_rows * patch_cols, 3 * patch_size²]: patch i at grid (row i / patch_cols,
  // col i % patch_cols); inside it value (py * patch_size + px) * 3 + channel; all in [0, 1].
  std::vector<float> values;
};

// Resizes to vision_target_size (unless the image already has that size), rescales by 1/255
// and cuts into patches.
ImagePatches image_to_patches(const RgbImage& image, const VisionPreprocessConfig& config);

}  // namespace facet
