// What the media towers share (model/tower_ops.h): the clamped Linear against a plain
// double-precision reference, f32 matrices, and binding a tower manifest from GGUF or HF.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "model/tower_ops.h"
#include "support/error_text.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

const float kInf = std::numeric_limits<float>::infinity();

TEST(TowerOps, ClampedLinearClampsInputAndOutput) {
  // W [3, 4] over 2 rows of x.
  const std::vector<float> w = {0.5f, -1.0f, 2.0f, 0.25f, 1.0f, 1.0f, 1.0f, 1.0f, -0.75f, 0.5f, 3.0f, -2.0f};
  const std::vector<float> x = {1.0f, -3.0f, 2.5f, 0.5f, -0.5f, 4.0f, -2.0f, 1.5f};
  ThreadPool pool(1);
  for (const ClampedLinear l : {ClampedLinear{f32_matrix(w, 3, 4), -1.0f, 2.0f, -1.5f, 3.0f},
                                ClampedLinear{f32_matrix(w, 3, 4), -kInf, kInf, -kInf, kInf}}) {
    const std::vector<float> y = clamped_linear(l, x, 2, pool);
    ASSERT_EQ(y.size(), 6u);
    for (int t = 0; t < 2; ++t)
      for (int r = 0; r < 3; ++r) {
        double s = 0;
        for (int i = 0; i < 4; ++i)
          s += static_cast<double>(w[r * 4 + i]) *
               std::clamp(static_cast<double>(x[t * 4 + i]), static_cast<double>(l.in_lo), static_cast<double>(l.in_hi));
        s = std::clamp(s, static_cast<double>(l.out_lo), static_cast<double>(l.out_hi));
        EXPECT_NEAR(y[t * 3 + r], s, 1e-5) << t << " " << r << " clamped " << std::isfinite(l.in_lo);
      }
  }
}

TEST(TowerOps, F32MatrixViewsTheValues) {
  const std::vector<float> v(6, 1.0f);
  const WeightMatrix m = f32_matrix(v, 2, 3);
  EXPECT_EQ(m.dtype, DType::F32);
  EXPECT_EQ(m.data, reinterpret_cast<const uint8_t*>(v.data()));
  EXPECT_EQ(m.rows, 2);
  EXPECT_EQ(m.cols, 3);
}

// Tensors by GGUF name in either layout.
class MapSource : public WeightSource {
 public:
  explicit MapSource(std::string format) : format_(std::move(format)) {}
  std::map<std::string, TensorView> tensors;
  const TensorView* find(const std::string& name) const override {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const override { return {}; }
  std::string format() const override { return format_; }
  uint64_t file_bytes() const override { return 0; }

 private:
  std::string format_;
};

struct Spec {
  std::string gguf_name;
  std::vector<int64_t> gguf_shape, hf_shape;
};

TEST(TowerOps, BinderUsesTheSourcesLayoutAndOptionalClamps) {
  const std::vector<Spec> manifest = {{"k.weight", {2, 3, 1}, {2, 3}},
                                      {"lin.weight", {2, 2}, {2, 2}},
                                      {"lin.input_max", {1}, {}},
                                      {"lin.output_min", {1}, {}}};
  const float values[6] = {1, 2, 3, 4, 5, 6};
  const float bound = 2.5f;
  const auto* bytes = reinterpret_cast<const uint8_t*>(values);
  MapSource gguf("gguf"), hf("safetensors");
  gguf.tensors["k.weight"] = TensorView{DType::F32, {2, 3, 1}, bytes};
  hf.tensors["k.weight"] = TensorView{DType::F32, {2, 3}, bytes};
  for (MapSource* s : {&gguf, &hf}) s->tensors["lin.weight"] = TensorView{DType::F32, {2, 2}, bytes};
  gguf.tensors["lin.input_max"] = TensorView{DType::F32, {1}, reinterpret_cast<const uint8_t*>(&bound)};
  hf.tensors["lin.input_max"] = TensorView{DType::F32, {}, reinterpret_cast<const uint8_t*>(&bound)};

  for (const MapSource* s : {&gguf, &hf}) {
    SCOPED_TRACE(s->format());
    const TowerBinder bind(manifest, *s, "tower");
    EXPECT_EQ(bind.vector("k.weight"), (std::vector<float>{1, 2, 3, 4, 5, 6}));
    const ClampedLinear l = bind.clamped_linear("lin");
    EXPECT_EQ(l.w.rows, 2);
    EXPECT_EQ(l.w.cols, 2);
    EXPECT_EQ(l.in_hi, 2.5f);
    // Listed but absent, and not listed at all: no clamp.
    EXPECT_EQ(l.out_lo, -kInf);
    EXPECT_EQ(l.in_lo, -kInf);
    EXPECT_EQ(l.out_hi, kInf);
  }
  // The other layout's shape is an error naming it.
  MapSource wrong("gguf");
  wrong.tensors["k.weight"] = TensorView{DType::F32, {2, 3}, bytes};
  EXPECT_EQ(test::error_of([&] { TowerBinder(manifest, wrong, "tower").vector("k.weight"); }),
            "tower: tensor k.weight has shape [2, 3], expected [2, 3, 1]");
}

}  // namespace
}  // namespace facet
