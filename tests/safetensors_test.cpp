// Round trips through SafetensorsWriter and the readers, and Hugging Face folder layouts.
#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "safetensors_test_util.h"

namespace facet {
namespace {

using test::expect_error;
using test::ScratchDir;
using test::st_image;
using test::write_bytes;

// Deterministic, distinct bytes for each tensor so a mix-up of offsets shows.
std::vector<uint8_t> pattern(size_t bytes, uint8_t seed) {
  std::vector<uint8_t> v(bytes);
  for (size_t i = 0; i < bytes; ++i) v[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return v;
}

struct Expected {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

std::vector<Expected> sample_tensors() {
  return {
      {"model.embed_tokens.weight", DType::BF16, {4, 3}, pattern(24, 1)},
      {"model.norm.weight", DType::F32, {3}, pattern(12, 2)},
      {"odd.f16", DType::F16, {3}, pattern(6, 3)},  // 6 bytes: would misalign what follows
      {"layer_scalar", DType::F32, {}, pattern(4, 4)},
      {"ids", DType::I32, {2}, pattern(8, 5)},
      {"bytes", DType::I8, {5}, pattern(5, 6)},
      {"wide", DType::F64, {1}, pattern(8, 7)},
      {"empty", DType::F32, {0, 4}, {}},
  };
}

void expect_matches(const SafetensorsTensor* t, const Expected& want) {
  ASSERT_NE(t, nullptr) << want.name;
  EXPECT_EQ(t->name, want.name);
  EXPECT_EQ(t->dtype_name, dtype_name(want.dtype));
  EXPECT_EQ(t->view.shape, want.shape) << want.name;
  ASSERT_EQ(t->byte_size, want.bytes.size()) << want.name;
  if (!want.bytes.empty()) {
    EXPECT_EQ(std::memcmp(t->view.data, want.bytes.data(), want.bytes.size()), 0) << want.name;
  }
  bool computable = dtype_info(want.dtype).computable;
  EXPECT_EQ(t->supported, computable) << want.name;
  if (computable) {
    EXPECT_EQ(t->view.dtype, want.dtype);
    EXPECT_EQ(t->view.byte_size(), want.bytes.size());
  }
}

TEST(SafetensorsRoundTrip, SingleFileKeepsNamesDtypesShapesBytesAndMetadata) {
  ScratchDir dir;
  auto tensors = sample_tensors();
  SafetensorsWriter writer;
  for (const auto& t : tensors) writer.add_tensor(t.name, t.dtype, t.shape, t.bytes.data());
  writer.set_metadata("format", "pt");
  writer.set_metadata("note", "ünïcode");
  const std::string path = dir.file("one.safetensors");
  writer.write(path);

  auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file->tensors().size(), tensors.size());
  for (const auto& want : tensors) expect_matches(file->tensor(want.name), want);
  EXPECT_EQ(file->tensor("missing"), nullptr);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->metadata().at("note"), "ünïcode");
  EXPECT_EQ(file->data_offset() % 8, 0u) << "header must be padded to a multiple of 8";
  // Widest-first ordering keeps every tensor naturally aligned in the file.
  for (const auto& t : file->tensors()) {
    uint32_t bytes_per_element = *safetensors_dtype_bits(t.dtype_name) / 8;
    EXPECT_EQ((file->data_offset() + t.offset) % bytes_per_element, 0u) << t.name;
  }
  // No temporary file is left beside the result.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(SafetensorsRoundTrip, ProducerIsCalledOncePerTensorWithItsByteSize) {
  ScratchDir dir;
  SafetensorsWriter writer;
  std::vector<size_t> calls;
  writer.add_tensor("a", DType::F32, {100, 10}, [&](uint8_t* dst, size_t bytes) {
    calls.push_back(bytes);
    for (size_t i = 0; i < bytes / 4; ++i) {
      float v = static_cast<float>(i) * 0.5f;
      std::memcpy(dst + 4 * i, &v, 4);
    }
  });
  writer.write(dir.file("p.safetensors"));
  ASSERT_EQ(calls, std::vector<size_t>{4000});
  auto file = SafetensorsFile::open(dir.file("p.safetensors"));
  float v;
  std::memcpy(&v, file->tensor("a")->view.row(99) + 4 * 9, 4);
  EXPECT_EQ(v, 999 * 0.5f);
}

TEST(SafetensorsRoundTrip, FailingProducerLeavesNothingBehind) {
  ScratchDir dir;
  SafetensorsWriter writer;
  writer.add_tensor("a", DType::F32, {4}, [](uint8_t*, size_t) { throw Error("disk on fire"); });
  EXPECT_THROW(writer.write(dir.file("x.safetensors")), Error);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 0);
}

TEST(SafetensorsRoundTrip, ShardedSetSplitsByBytesAndWritesTheIndex) {
  ScratchDir dir;
  SafetensorsWriter writer;
  std::vector<Expected> tensors;
  for (int i = 0; i < 5; ++i)
    tensors.push_back({"layers." + std::to_string(i) + ".w", DType::F32, {10, 10},
                       pattern(400, static_cast<uint8_t>(i))});
  tensors.push_back({"big", DType::BF16, {1000}, pattern(2000, 9)});  // over the limit alone
  for (const auto& t : tensors) writer.add_tensor(t.name, t.dtype, t.shape, t.bytes.data());
  writer.set_metadata("format", "pt");
  auto written = writer.write_sharded(dir.path().string(), 1000);

  // 400+400 | 400+400 | 400 | 2000 -> four shards, HF naming, index last.
  ASSERT_EQ(written.size(), 5u);
  EXPECT_EQ(written[0], dir.file("model-00001-of-00004.safetensors"));
  EXPECT_EQ(written[3], dir.file("model-00004-of-00004.safetensors"));
  EXPECT_EQ(written[4], dir.file("model.safetensors.index.json"));

  std::ifstream in(written[4]);
  auto index = nlohmann::json::parse(in);
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), 5 * 400u + 2000u);
  EXPECT_EQ(index["weight_map"]["layers.0.w"], "model-00001-of-00004.safetensors");
  EXPECT_EQ(index["weight_map"]["layers.2.w"], "model-00002-of-00004.safetensors");
  EXPECT_EQ(index["weight_map"]["layers.4.w"], "model-00003-of-00004.safetensors");
  EXPECT_EQ(index["weight_map"]["big"], "model-00004-of-00004.safetensors");

  auto set = SafetensorsSet::open(dir.path().string());
  EXPECT_EQ(set->file_paths().size(), 4u);
  EXPECT_EQ(set->names().size(), tensors.size());
  for (const auto& want : tensors) expect_matches(set->find(want.name), want);
  EXPECT_EQ(set->file_of("big")->path(), written[3]);
  EXPECT_EQ(set->metadata().at("format"), "pt");
  EXPECT_EQ(set->find("nope"), nullptr);
}

TEST(SafetensorsRoundTrip, ShardedWriteThatFitsMakesOneModelSafetensors) {
  ScratchDir dir;
  // A stale index from an earlier sharded write must not shadow the new single file.
  write_bytes(dir.file("model.safetensors.index.json"), R"({"weight_map":{"x":"gone"}})");
  SafetensorsWriter writer;
  auto tensors = sample_tensors();
  for (const auto& t : tensors) writer.add_tensor(t.name, t.dtype, t.shape, t.bytes.data());
  auto written = writer.write_sharded(dir.path().string(), 1 << 20);
  ASSERT_EQ(written, std::vector<std::string>{dir.file("model.safetensors")});
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.safetensors.index.json")));

  auto set = SafetensorsSet::open(dir.path().string());
  EXPECT_EQ(set->file_paths(), written);
  for (const auto& want : tensors) expect_matches(set->find(want.name), want);
  // A set opened on the file itself is the same checkpoint.
  auto direct = SafetensorsSet::open(written[0]);
  EXPECT_EQ(direct->names(), set->names());
}

TEST(SafetensorsRoundTrip, WriterRejectsWhatSafetensorsCannotHold) {
  SafetensorsWriter writer;
  float x[4] = {};
  expect_error([&] { writer.add_tensor("q", DType::Q4_0, {32}, x); }, {"q", "Q4_0"});
  expect_error([&] { writer.add_tensor("n", DType::F32, {2, -1}, x); }, {"n", "negative"});
  expect_error([&] { writer.add_tensor("__metadata__", DType::F32, {1}, x); }, {"__metadata__"});
  writer.add_tensor("a", DType::F32, {1}, x);
  expect_error([&] { writer.add_tensor("a", DType::F32, {1}, x); }, {"a", "twice"});
}

// A Gemma 4 multimodal checkpoint laid out like the Hugging Face hub: text weights in BF16,
// tower weights in dtypes facet does not compute with. Hand-built, not from the writer.
TEST(SafetensorsSet, MultimodalFolderSkipsUnsupportedTowerTensorsUntilRequested) {
  ScratchDir dir;
  write_bytes(dir.file("model-00001-of-00002.safetensors"),
              st_image(R"({"__metadata__":{"format":"pt"},)"
                       R"("model.language_model.norm.weight":{"dtype":"BF16","shape":[2],)"
                       R"("data_offsets":[0,4]}})",
                       std::string("\x80\x3f\x00\x40", 4)));
  write_bytes(dir.file("model-00002-of-00002.safetensors"),
              st_image(R"({"model.vision_tower.patch.weight":{"dtype":"F8_E4M3","shape":[2,2],)"
                       R"("data_offsets":[0,4]},"model.audio_tower.mask":{"dtype":"BOOL",)"
                       R"("shape":[3],"data_offsets":[4,7]}})",
                       std::string("abcdefg")));
  write_bytes(dir.file("model.safetensors.index.json"),
              R"({"metadata":{"total_size":11},"weight_map":{)"
              R"("model.language_model.norm.weight":"model-00001-of-00002.safetensors",)"
              R"("model.vision_tower.patch.weight":"model-00002-of-00002.safetensors",)"
              R"("model.audio_tower.mask":"model-00002-of-00002.safetensors"}})");

  auto set = SafetensorsSet::open(dir.path().string());
  ASSERT_EQ(set->names().size(), 3u);
  const auto& norm = set->view("model.language_model.norm.weight");
  EXPECT_EQ(norm.dtype, DType::BF16);
  EXPECT_EQ(norm.shape, std::vector<int64_t>{2});
  EXPECT_EQ(norm.data[1], 0x3f);

  const auto* vision = set->find("model.vision_tower.patch.weight");
  ASSERT_NE(vision, nullptr);
  EXPECT_FALSE(vision->supported);
  EXPECT_EQ(vision->dtype_name, "F8_E4M3");
  EXPECT_EQ(vision->byte_size, 4u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(vision->view.data), 4), "abcd");
  EXPECT_EQ(set->find("model.audio_tower.mask")->byte_size, 3u);
  expect_error([&] { set->view("model.vision_tower.patch.weight"); },
               {"model-00002-of-00002.safetensors", "model.vision_tower.patch.weight", "F8_E4M3"});
  expect_error([&] { set->view("model.language_model.missing"); },
               {dir.path().string(), "model.language_model.missing"});
}

}  // namespace
}  // namespace facet
