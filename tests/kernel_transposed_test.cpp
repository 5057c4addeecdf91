// accumulate_transposed (training's backward product through a block of weight rows)
// against a double-precision sum written here, on shapes that leave every tail of its tiles:
// token counts around the tile of 4, column counts around the vector width and the strip,
// and strided dy / dx as the caller passes them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/matmul.h"

namespace facet {
namespace {

struct Case {
  int64_t rows, cols, tokens, dy_stride, dx_stride;
};

TEST(KernelTransposed, MatchesDoublePrecisionSumOnAwkwardShapes) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const Case cases[] = {{1, 1, 1, 1, 1},     {3, 7, 2, 5, 9},       {64, 8, 4, 64, 8},     {5, 9, 5, 11, 9},
                        {64, 33, 9, 70, 40}, {17, 200, 7, 17, 203}, {64, 1536, 6, 64, 1536}, {2, 129, 13, 3, 130}};
  for (const Case& c : cases) {
    std::vector<float> w(static_cast<size_t>(c.rows * c.cols)), dy(static_cast<size_t>(c.tokens * c.dy_stride)),
        dx(static_cast<size_t>(c.tokens * c.dx_stride));
    for (float& v : w) v = dist(rng);
    for (float& v : dy) v = dist(rng);
    for (float& v : dx) v = dist(rng);
    const std::vector<float> before = dx;
    accumulate_transposed(w.data(), c.rows, c.cols, dy.data(), c.dy_stride, c.tokens, dx.data(), c.dx_stride);
    for (int64_t t = 0; t < c.tokens; ++t)
      for (int64_t col = 0; col < c.dx_stride; ++col) {
        const size_t i = static_cast<size_t>(t * c.dx_stride + col);
        if (col >= c.cols) {  // padding between a token's columns and the next token: untouched
          EXPECT_EQ(dx[i], before[i]);
          continue;
        }
        double want = before[i], magnitude = std::fabs(before[i]);
        for (int64_t r = 0; r < c.rows; ++r) {
          const double term = double{dy[static_cast<size_t>(t * c.dy_stride + r)]} * w[static_cast<size_t>(r * c.cols + col)];
          want += term;
          magnitude += std::fabs(term);
        }
        // f32 accumulation of `rows` terms: a few ulps of the sum of magnitudes per term.
        EXPECT_NEAR(dx[i], want, 1e-6 * magnitude * static_cast<double>(c.rows + 1))
            << c.rows << "x" << c.cols << " tokens " << c.tokens << " at t=" << t << " c=" << col;
      }
  }
}

// The result of a token must not depend on which other tokens share its call (threads split
// the tokens), so the sums of a token alone and in a batch are bit-identical.
TEST(KernelTransposed, TokenAloneEqualsTokenInBatch) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t rows = 40, cols = 100, tokens = 7;
  std::vector<float> w(rows * cols), dy(tokens * rows), batch(tokens * cols, 0.5f);
  for (float& v : w) v = dist(rng);
  for (float& v : dy) v = dist(rng);
  accumulate_transposed(w.data(), rows, cols, dy.data(), rows, tokens, batch.data(), cols);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<float> alone(cols, 0.5f);
    accumulate_transposed(w.data(), rows, cols, dy.data() + t * rows, rows, 1, alone.data(), cols);
    for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(alone[c], batch[t * cols + c]) << "t=" << t << " c=" << c;
  }
}

// Weight gradients dW += dy^T x: against a double-precision sum, and rows computed in any split
// of the outputs (as threads take them) give the same bits.
TEST(KernelTransposed, OuterProductsMatchDoublePrecisionAndAnySplit) {
  std::mt19937 rng(13);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  struct Shape {
    int64_t n, in, out;
  };
  for (const Shape& s : {Shape{1, 1, 1}, Shape{3, 17, 5}, Shape{64, 256, 37}, Shape{9, 33, 70}, Shape{130, 40, 9}}) {
    std::vector<float> x(static_cast<size_t>(s.n * s.in)), dy(static_cast<size_t>(s.n * s.out)),
        dw(static_cast<size_t>(s.out * s.in));
    for (float& v : x) v = dist(rng);
    for (float& v : dy) v = dist(rng);
    for (float& v : dw) v = dist(rng);
    const std::vector<float> before = dw;
    accumulate_outer_products(x.data(), s.n, s.in, dy.data(), s.out, 0, s.out, dw.data());
    for (int64_t o = 0; o < s.out; ++o)
      for (int64_t i = 0; i < s.in; ++i) {
        const size_t at = static_cast<size_t>(o * s.in + i);
        double want = before[at], magnitude = std::fabs(before[at]);
        for (int64_t t = 0; t < s.n; ++t) {
          const double term = double{dy[static_cast<size_t>(t * s.out + o)]} * x[static_cast<size_t>(t * s.in + i)];
          want += term;
          magnitude += std::fabs(term);
        }
        ASSERT_NEAR(dw[at], want, 1e-6 * magnitude * static_cast<double>(s.n + 1)) << "o=" << o << " i=" << i;
      }
    // Output rows in uneven pieces (1, 2, 3, ... rows at a time): the same bits.
    std::vector<float> pieces = before;
    for (int64_t o0 = 0, len = 1; o0 < s.out; o0 += len, ++len)
      accumulate_outer_products(x.data(), s.n, s.in, dy.data(), s.out, o0, std::min(s.out, o0 + len), pieces.data());
    for (size_t k = 0; k < dw.size(); ++k) ASSERT_EQ(pieces[k], dw[k]) << "at " << k;
  }
}

}  // namespace
}  // namespace facet
