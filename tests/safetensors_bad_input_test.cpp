// Malformed safetensors files and folders, crafted byte by byte: each must give a
// facet::Error naming the file (and tensor), never a crash or an out-of-bounds read.
#include <gtest/gtest.h>

#include "formats/safetensors.h"
#include "safetensors_test_util.h"
#include "support/paths.h"

namespace facet {
namespace {

using test::expect_error;
using test::ScratchDir;
using test::st_image;
using test::st_image_with_length;
using test::write_bytes;

// One F32 tensor "w" of shape [2] at data_offsets [0, 8].
const std::string kGoodHeader = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
const std::string kGoodData(8, '\x01');

class SafetensorsBadInput : public ::testing::Test {
 protected:
  // Writes `bytes` to a file and expects opening it to fail with a message naming the file
  // and containing every one of `parts`.
  void expect_open_fails(const std::string& bytes, std::initializer_list<std::string> parts) {
    const std::string path = dir_.file("bad.safetensors");
    write_bytes(path, bytes);
    expect_error([&] { SafetensorsFile::open(path); }, {path});
    expect_error([&] { SafetensorsFile::open(path); }, parts);
    // The in-memory path used by the fuzzer must agree.
    expect_error(
        [&] {
          SafetensorsFile::parse_buffer(reinterpret_cast<const uint8_t*>(bytes.data()),
                                        bytes.size(), "mem");
        },
        parts);
  }
  // A file whose header is `header` and whose data section is `data`.
  void expect_header_fails(const std::string& header, const std::string& data,
                           std::initializer_list<std::string> parts) {
    expect_open_fails(st_image(header, data), parts);
  }
  ScratchDir dir_;
};

TEST_F(SafetensorsBadInput, TheGoodBaselineOpens) {
  const std::string path = dir_.file("good.safetensors");
  write_bytes(path, st_image(kGoodHeader, kGoodData));
  auto file = SafetensorsFile::open(path);
  ASSERT_NE(file->tensor("w"), nullptr);
  EXPECT_EQ(file->tensor("w")->view.numel(), 2);
}

TEST_F(SafetensorsBadInput, EveryTruncationOfAValidFileIsRejected) {
  const std::string image = st_image(kGoodHeader, kGoodData);
  for (size_t len = 0; len < image.size(); ++len) {
    SCOPED_TRACE(len);
    expect_open_fails(image.substr(0, len), {});
  }
  expect_open_fails("", {"truncated"});
  expect_open_fails("\x05\x00\x00", {"truncated"});
}

TEST_F(SafetensorsBadInput, HeaderLengthPastEndOfFile) {
  expect_open_fails(st_image_with_length(kGoodHeader.size() + 9, kGoodHeader, kGoodData),
                    {"header length", "past the end"});
}

TEST_F(SafetensorsBadInput, AbsurdHeaderLength) {
  expect_open_fails(st_image_with_length(~uint64_t{0}, kGoodHeader, ""), {"exceeds the limit"});
  expect_open_fails(st_image_with_length(uint64_t{1} << 63, kGoodHeader, ""), {"exceeds"});
  expect_open_fails(st_image_with_length(200'000'000, kGoodHeader, ""), {"exceeds"});
}

TEST_F(SafetensorsBadInput, HeaderThatIsNotAJsonObject) {
  expect_header_fails(R"({"w":{"dtype":"F32",)", "", {"invalid JSON"});
  expect_header_fails(R"({"w" "x"})", "", {"invalid JSON"});
  expect_header_fails(R"([1,2])", "", {"JSON object"});
  expect_header_fails(R"(  {})", "", {"'{'"});
  expect_header_fails(std::string("{}\0\0", 4), "", {"NUL byte"});  // NUL padding
  // nlohmann-json alone would stop at the NUL and accept a header hiding bytes after it.
  expect_header_fails(std::string("{}\0{\"hidden\":1}", 15), "", {"NUL byte at offset 2"});
  expect_header_fails("{\"w\xff\":1}", "", {"invalid JSON"});          // not UTF-8
  expect_header_fails(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                      kGoodData, {"duplicate key", "\"w\""});
}

TEST_F(SafetensorsBadInput, DeeplyNestedJsonIsRejectedWithoutExhaustingTheStack) {
  const size_t depth = 200'000;  // recursion this deep would overflow an 8 MB stack
  std::string shape = std::string(depth, '[') + std::string(depth, ']');
  expect_header_fails(R"({"w":{"dtype":"F32","shape":[)" + shape + R"(],"data_offsets":[0,8]}})",
                      kGoodData, {"tensor w", "non-negative integer, got a array"});
  expect_header_fails(R"({"w":)" + std::string(depth, '['), kGoodData, {"invalid JSON"});
}

TEST_F(SafetensorsBadInput, WrongDtypeStrings) {
  expect_header_fails(R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", kGoodData,
                      {"tensor w", "unknown dtype \"F33\""});
  expect_header_fails(R"({"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", kGoodData,
                      {"unknown dtype \"f32\""});
  expect_header_fails(R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", kGoodData,
                      {"tensor w", "dtype must be a string"});
}

TEST_F(SafetensorsBadInput, MalformedEntries) {
  expect_header_fails(R"({"w":{"dtype":"F32","shape":[2]}})", kGoodData,
                      {"tensor w", "data_offsets"});
  expect_header_fails(R"({"w":[1]})", kGoodData, {"tensor w", "must be an object"});
  expect_header_fails(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kGoodData,
                      {"tensor w", "shape dimension", "non-negative integer"});
  expect_header_fails(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", kGoodData,
                      {"tensor w", "non-negative integer"});
  expect_header_fails(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", kGoodData,
                      {"tensor w", "shape must be an array"});
  expect_header_fails(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", kGoodData,
                      {"tensor w", "[begin, end]"});
  expect_header_fails(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", kGoodData,
                      {"tensor w", "reversed"});
  expect_header_fails(R"({"__metadata__":{"format":1},)"
                      R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                      kGoodData, {"__metadata__", "format"});
}

TEST_F(SafetensorsBadInput, ShapeThatOverflows) {
  // 2^32 * 2^32 elements overflow 64 bits; 2^62 F32 elements overflow the byte count.
  expect_header_fails(
      R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
      kGoodData, {"tensor w", "too many elements"});
  expect_header_fails(
      R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})", kGoodData,
      {"tensor w", "too large"});
  expect_header_fails(
      R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}})",
      kGoodData, {"tensor w", "non-negative integer"});  // > u64: parsed as a float
  expect_header_fails(R"({"w":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}})", "x",
                      {"tensor w", "whole bytes"});
}

TEST_F(SafetensorsBadInput, ShapeDisagreesWithOffsets) {
  expect_header_fails(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", kGoodData,
                      {"tensor w", "hold 8 bytes", "needs 12"});
  expect_header_fails(R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}})", kGoodData,
                      {"tensor w", "needs 4"});
}

TEST_F(SafetensorsBadInput, OffsetsOutOfRange) {
  expect_header_fails(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", kGoodData,
                      {"tensor w", "past the data section"});
  expect_header_fails(R"({"w":{"dtype":"F32","shape":[2],)"
                      R"("data_offsets":[18446744073709551612,18446744073709551615]}})",
                      kGoodData, {"tensor w", "past the data section"});
}

TEST_F(SafetensorsBadInput, OverlappingTensors) {
  expect_header_fails(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                      kGoodData, {"overlaps", "b", "a"});
  // Two names aliasing the same bytes.
  expect_header_fails(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                      kGoodData, {"overlaps"});
}

TEST_F(SafetensorsBadInput, HolesAndTrailingBytes) {
  expect_header_fails(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", kGoodData,
                      {"gap of 4 bytes", "tensor a"});
  expect_header_fails(kGoodHeader, kGoodData + "junk", {"4 bytes after the last tensor"});
  expect_header_fails("{}", "x", {"1 bytes after the last tensor"});
}

TEST_F(SafetensorsBadInput, UnusualButValidFilesOpen) {
  // Space padding, a zero-size tensor, an empty file body and unknown entry fields are fine.
  const std::string path = dir_.file("ok.safetensors");
  write_bytes(path, st_image(R"({"e":{"dtype":"F8_E5M2","shape":[0,3],"data_offsets":[8,8]},)"
                             R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}   )",
                             kGoodData));
  auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file->tensors().size(), 2u);
  EXPECT_FALSE(file->tensor("e")->supported);
  write_bytes(path, st_image("{}", ""));
  EXPECT_TRUE(SafetensorsFile::open(path)->tensors().empty());
}

// --- Hugging Face folders -------------------------------------------------------------

class SafetensorsBadFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    write_bytes(dir_.file("shard.safetensors"), st_image(kGoodHeader, kGoodData));
  }
  void write_index(const std::string& json) {
    write_bytes(dir_.file("model.safetensors.index.json"), json);
  }
  void expect_set_fails(std::initializer_list<std::string> parts) {
    expect_error([&] { SafetensorsSet::open(dir_.path().string()); }, parts);
  }
  std::string index_path() const { return dir_.file("model.safetensors.index.json"); }
  ScratchDir dir_;
};

TEST_F(SafetensorsBadFolder, IndexOpensWhenConsistent) {
  write_index(R"({"weight_map":{"w":"shard.safetensors"}})");
  EXPECT_NE(SafetensorsSet::open(dir_.path().string())->find("w"), nullptr);
}

TEST_F(SafetensorsBadFolder, MissingShard) {
  write_index(R"({"weight_map":{"w":"model-00002-of-00002.safetensors"}})");
  expect_set_fails({index_path(), "model-00002-of-00002.safetensors", "does not exist", "w"});
}

TEST_F(SafetensorsBadFolder, ShardNamesThatEscapeTheFolder) {
  for (const char* shard : {"../shard.safetensors", "sub/shard.safetensors", "..", ".",
                            "/etc/passwd", ""}) {
    SCOPED_TRACE(shard);
    write_index(std::string(R"({"weight_map":{"w":")") + shard + "\"}}");
    expect_set_fails({index_path(), "not a plain file name", "tensor w"});
  }
}

TEST_F(SafetensorsBadFolder, TensorMissingFromItsShard) {
  write_index(R"({"weight_map":{"w":"shard.safetensors","v":"shard.safetensors"}})");
  expect_set_fails({index_path(), "tensor v", "does not contain it", "shard.safetensors"});
}

TEST_F(SafetensorsBadFolder, MalformedIndex) {
  write_index(R"({"weight_map":)");
  expect_set_fails({index_path(), "invalid JSON"});
  write_index(R"({"metadata":{}})");
  expect_set_fails({index_path(), "weight_map"});
  write_index(R"({"weight_map":{"w":3}})");
  expect_set_fails({index_path(), "tensor w", "file name string"});
  write_index(R"({"weight_map":{"w":"shard.safetensors","w":"shard.safetensors"}})");
  expect_set_fails({index_path(), "duplicate key"});
}

TEST_F(SafetensorsBadFolder, BadShardIsReportedByItsPath) {
  write_bytes(dir_.file("broken.safetensors"), "\x01\x02");
  write_index(R"({"weight_map":{"w":"broken.safetensors"}})");
  expect_set_fails({dir_.file("broken.safetensors"), "truncated"});
}

TEST_F(SafetensorsBadFolder, FolderWithoutCheckpoint) {
  expect_set_fails({dir_.path().string(), "model.safetensors.index.json", "model.safetensors"});
  expect_error([&] { SafetensorsSet::open(dir_.file("nothing.safetensors")); },
               {"nothing.safetensors", "cannot open"});
}

// The fuzzer's seeds must be valid files, or the fuzzer starts from rejected inputs only.
TEST(SafetensorsFuzzSeeds, EverySeedOpens) {
  const auto seeds = std::filesystem::path(test::source_dir()) / "fuzz/corpus/safetensors";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(seeds)) {
    EXPECT_NO_THROW(SafetensorsFile::open(entry.path().string())) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 3);
}

}  // namespace
}  // namespace facet
