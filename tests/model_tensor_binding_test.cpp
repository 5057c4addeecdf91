// Tensor binding checks (model/tensor_binding.h): missing, misshapen and non-computable
// tensors are errors naming the file and the tensor as the file names it; to_f32 widens.
#include <gtest/gtest.h>

#include <map>

#include "model/tensor_binding.h"
#include "support/error_text.h"

namespace facet {
namespace {

// Tensors by GGUF name, shown in errors as "file:NAME".
class MapSource : public WeightSource {
 public:
  std::map<std::string, TensorView> tensors;
  const TensorView* find(const std::string& name) const override {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const override { return {}; }
  std::string format() const override { return "test"; }
  uint64_t file_bytes() const override { return 0; }
  std::string source_name(const std::string& name) const override { return "file:" + name; }
};

TEST(TensorBinding, ChecksPresenceShapeAndType) {
  const float values[6] = {};
  const int32_t ints[2] = {};
  MapSource source;
  source.tensors["w"] = TensorView{DType::F32, {2, 3}, reinterpret_cast<const uint8_t*>(values)};
  source.tensors["scalar"] = TensorView{DType::F32, {}, reinterpret_cast<const uint8_t*>(values)};
  source.tensors["ids"] = TensorView{DType::I32, {2}, reinterpret_cast<const uint8_t*>(ints)};

  EXPECT_EQ(&checked_tensor(source, "w", {2, 3}, "m.gguf"), source.find("w"));
  EXPECT_EQ(test::error_of([&] { checked_tensor(source, "gone", {1}, "m.gguf"); }), "m.gguf: tensor file:gone is missing");
  EXPECT_EQ(test::error_of([&] { checked_tensor(source, "w", {3, 2}, "m.gguf"); }),
            "m.gguf: tensor file:w has shape [2, 3], expected [3, 2]");
  EXPECT_EQ(test::error_of([&] { checked_tensor(source, "ids", {2}, "m.gguf"); }),
            "m.gguf: tensor file:ids has type I32, which facet cannot compute with");
  // A 0-d scalar passes for [1] only where scalars may take either shape.
  EXPECT_NE(test::error_of([&] { checked_tensor(source, "scalar", {1}, "m.gguf"); }).find("expected [1]"),
            std::string::npos);
  EXPECT_EQ(&checked_tensor(source, "scalar", {1}, "m.gguf", ScalarShape::ZeroOrOneD), source.find("scalar"));
  EXPECT_EQ(&checked_tensor(source, "scalar", {}, "m.gguf", ScalarShape::ZeroOrOneD), source.find("scalar"));
  EXPECT_NE(test::error_of([&] { checked_tensor(source, "w", {1}, "m.gguf", ScalarShape::ZeroOrOneD); })
                .find("has shape [2, 3]"),
            std::string::npos);
}

TEST(TensorBinding, ToF32WidensEveryElement) {
  // bf16 bit patterns of 1.5, -2 and 0.15625 (exact in bf16).
  const uint16_t bf16[3] = {0x3FC0, 0xC000, 0x3E20};
  const TensorView t{DType::BF16, {3}, reinterpret_cast<const uint8_t*>(bf16)};
  EXPECT_EQ(to_f32(t), (std::vector<float>{1.5f, -2.0f, 0.15625f}));
}

}  // namespace
}  // namespace facet
