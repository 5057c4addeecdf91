// ManifestHfSource (model/manifest_hf_source.h): an HF safetensors folder read by GGUF names
// through (GGUF name, HF name) pairs.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "formats/safetensors.h"
#include "model/manifest_hf_source.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

struct Pair {
  std::string gguf_name, hf_name;
};

TEST(ManifestHfSource, FindsTensorsByTheirGgufNames) {
  test::TempDir dir;
  const float weights[6] = {1, 2, 3, 4, 5, 6};
  const int64_t ordering[3] = {2, 0, 1};
  SafetensorsWriter writer;
  writer.add_tensor("model.proj.weight", DType::F32, {2, 3}, weights);
  writer.add_tensor("model.ordering", DType::I64, {3}, ordering);
  writer.write(dir.file("model.safetensors"));

  const TensorNamePairs names = tensor_name_pairs(std::vector<Pair>{
      {"proj.weight", "model.proj.weight"}, {"ordering", "model.ordering"}, {"absent.weight", "model.absent.weight"}});
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0], (std::pair<std::string, std::string>{"proj.weight", "model.proj.weight"}));
  ManifestHfSource source(SafetensorsSet::open(dir.path()), names);

  const TensorView* proj = source.find("proj.weight");
  ASSERT_NE(proj, nullptr);
  EXPECT_EQ(proj->dtype, DType::F32);
  EXPECT_EQ(proj->shape, (std::vector<int64_t>{2, 3}));
  float got[6];
  std::memcpy(got, proj->data, sizeof got);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(got[i], weights[i]) << i;
  // Its HF name is not a GGUF name; integers facet cannot compute with and tensors the
  // folder lacks are not found, but errors still show their HF names.
  EXPECT_EQ(source.find("model.proj.weight"), nullptr);
  EXPECT_EQ(source.find("ordering"), nullptr);
  EXPECT_EQ(source.find("absent.weight"), nullptr);
  EXPECT_EQ(source.source_name("ordering"), "model.ordering");
  EXPECT_EQ(source.source_name("absent.weight"), "model.absent.weight");
  EXPECT_EQ(source.source_name("unlisted"), "unlisted");
  // The integer tensor stays reachable through the set (drafters read their ordering so).
  ASSERT_NE(source.set().find("model.ordering"), nullptr);

  EXPECT_EQ(source.format(), "safetensors");
  EXPECT_EQ(source.names(), (std::vector<std::string>{"model.ordering", "model.proj.weight"}));
  EXPECT_EQ(source.file_bytes(), std::filesystem::file_size(dir.file("model.safetensors")));
}

}  // namespace
}  // namespace facet
