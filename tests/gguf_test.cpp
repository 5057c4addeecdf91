#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <cstring>

#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/error.h"

namespace facet {
namespace {

using test::TempDir;

GgufValue scalar(GgufType type, int64_t v) {
  GgufValue value;
  value.type = type;
  value.integer = v;
  return value;
}

// Builds GGUF bytes by hand, independently of GgufWriter, so reader tests do not
// depend on the writer being right.
struct RawGguf {
  std::vector<uint8_t> b;
  template <typename T>
  RawGguf& put(T v) {
    size_t at = b.size();
    b.resize(at + sizeof(T));
    std::memcpy(b.data() + at, &v, sizeof(T));
    return *this;
  }
  RawGguf& str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  RawGguf& pad_to(size_t alignment) {
    while (b.size() % alignment) b.push_back(0);
    return *this;
  }
};

// A valid file: one u32 key and one F32 tensor of shape [2, 3] (ggml ne {3, 2}).
RawGguf valid_file() {
  RawGguf g;
  g.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(1).put<uint64_t>(1);
  g.str("general.architecture").put<uint32_t>(8).str("gemma4");
  g.str("w").put<uint32_t>(2).put<uint64_t>(3).put<uint64_t>(2).put<uint32_t>(0).put<uint64_t>(0);
  g.pad_to(32);
  for (int i = 0; i < 6; ++i) g.put<float>(static_cast<float>(i) + 0.5f);
  return g;
}

std::string write_temp(const TempDir& dir, const std::vector<uint8_t>& bytes) {
  std::string path = dir.file("model.gguf");
  test::write_bytes(path, bytes);
  return path;
}

TEST(Gguf, ReadsHandBuiltFile) {
  TempDir dir;
  auto f = GgufFile::open(write_temp(dir, valid_file().b));
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->get_string("general.architecture"), "gemma4");
  const GgufTensor* t = f->tensor("w");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->view.shape, (std::vector<int64_t>{2, 3}));  // row-major: ne reversed
  EXPECT_EQ(t->view.dtype, DType::F32);
  const float* data = reinterpret_cast<const float*>(t->view.data);
  EXPECT_EQ(data[0], 0.5f);
  EXPECT_EQ(data[5], 5.5f);
  EXPECT_EQ(t->view.row(1), t->view.data + 12);
}

TEST(Gguf, WriterRoundTripsEveryValueType) {
  TempDir dir;
  GgufWriter w;
  w.set_alignment(64);
  w.set("u8", scalar(GgufType::U8, 200));
  w.set("i8", scalar(GgufType::I8, -100));
  w.set("u16", scalar(GgufType::U16, 60000));
  w.set("i16", scalar(GgufType::I16, -30000));
  w.set("u32", GgufValue::of_u32(4000000000u));
  w.set("i32", GgufValue::of_i32(-2000000000));
  w.set("u64", GgufValue::of_u64(1ull << 40));
  w.set("i64", scalar(GgufType::I64, -(1ll << 40)));
  w.set("f32", GgufValue::of_f32(1.5f));
  GgufValue f64;
  f64.type = GgufType::F64;
  f64.real = 1e-300;
  w.set("f64", f64);
  w.set("bool", GgufValue::of_bool(true));
  w.set("str", GgufValue::of_string("héllo"));
  w.set("arr_i32", GgufValue::of_array(GgufType::I32, {1, -2, 3}));
  w.set("arr_bool", GgufValue::of_array(GgufType::BOOL, {1, 0, 1}));
  w.set("arr_f32", GgufValue::of_array(std::vector<double>{0.25, -8}));
  w.set("arr_str", GgufValue::of_array(std::vector<std::string>{"a", "", "▁b"}));
  GgufValue nested;
  nested.type = GgufType::ARRAY;
  nested.array_type = GgufType::ARRAY;
  nested.items = {GgufValue::of_array(GgufType::U8, {7}), GgufValue::of_array(GgufType::U8, {8, 9})};
  w.set("nested", nested);
  std::vector<uint16_t> half = {0x3c00, 0x4000, 0xc000, 0x0000};
  w.add_tensor("h", DType::F16, {2, 2}, half.data());
  std::vector<float> one = {42.0f};
  w.add_tensor("s", DType::F32, {1}, one.data());
  std::string path = dir.file("rt.gguf");
  w.write(path);

  auto f = GgufFile::open(path);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->get_int("u8"), 200);
  EXPECT_EQ(f->get_int("i8"), -100);
  EXPECT_EQ(f->get_int("u16"), 60000);
  EXPECT_EQ(f->get_int("i16"), -30000);
  EXPECT_EQ(f->get_int("u32"), 4000000000ll);
  EXPECT_EQ(f->get_int("i32"), -2000000000);
  EXPECT_EQ(f->get_int("u64"), 1ll << 40);
  EXPECT_EQ(f->get_int("i64"), -(1ll << 40));
  EXPECT_EQ(f->get_real("f32"), 1.5);
  EXPECT_EQ(f->get_real("f64"), 1e-300);
  EXPECT_TRUE(f->get_bool_or("bool", false));
  EXPECT_EQ(f->get_string("str"), "héllo");
  EXPECT_EQ(f->get_int_array("arr_i32", 3), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f->find("arr_bool")->integers, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(f->find("arr_f32")->reals, (std::vector<double>{0.25, -8}));
  EXPECT_EQ(f->get_string_array("arr_str"), (std::vector<std::string>{"a", "", "▁b"}));
  ASSERT_EQ(f->find("nested")->items.size(), 2u);
  EXPECT_EQ(f->find("nested")->items[1].integers, (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(f->get_int_array("u32", 2), (std::vector<int64_t>{4000000000ll, 4000000000ll}));
  const GgufTensor* h = f->tensor("h");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->view.dtype, DType::F16);
  EXPECT_EQ(std::memcmp(h->view.data, half.data(), 8), 0);
  const GgufTensor* s = f->tensor("s");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->offset % 64, 0u);
  EXPECT_EQ(reinterpret_cast<const float*>(s->view.data)[0], 42.0f);
  EXPECT_EQ((f->data_offset()) % 64, 0u);
}

TEST(Gguf, TypedGettersNameTheKeyOnMisuse) {
  TempDir dir;
  auto f = GgufFile::open(write_temp(dir, valid_file().b));
  try {
    f->get_int("general.architecture");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("general.architecture"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("expected an integer"), std::string::npos);
  }
  EXPECT_THROW(f->get_int("missing.key"), Error);
  EXPECT_EQ(f->get_int_or("missing.key", 7), 7);
}

// Every hostile variant must give an Error that names the file, never a crash.
void expect_rejected(const std::vector<uint8_t>& bytes, const std::string& fragment) {
  TempDir dir;
  std::string path = write_temp(dir, bytes);
  try {
    GgufFile::open(path);
    FAIL() << "accepted a bad file; expected error containing: " << fragment;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  }
}

TEST(Gguf, RejectsWrongMagicAndVersion) {
  auto g = valid_file();
  g.b[0] = 'X';
  expect_rejected(g.b, "not a GGUF file");
  g = valid_file();
  g.b[4] = 1;
  expect_rejected(g.b, "version 1");
  g = valid_file();
  g.b[4] = 9;
  expect_rejected(g.b, "unsupported GGUF version 9");
  g = valid_file();
  std::memset(&g.b[4], 0, 4);
  g.b[7] = 3;  // big-endian 3
  expect_rejected(g.b, "byte-swapped");
  expect_rejected({}, "not a GGUF file");
}

TEST(Gguf, RejectsEveryTruncation) {
  auto full = valid_file().b;
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    TempDir dir;
    EXPECT_THROW(GgufFile::open(write_temp(dir, cut)), Error) << "length " << n;
  }
}

TEST(Gguf, RejectsAbsurdCountsAndLengths) {
  auto g = valid_file();
  std::memset(&g.b[8], 0xff, 8);  // tensor count
  expect_rejected(g.b, "tensor count");
  g = valid_file();
  std::memset(&g.b[16], 0xff, 8);  // kv count
  expect_rejected(g.b, "metadata count");
  g = valid_file();
  std::memset(&g.b[24], 0x7f, 8);  // key length
  expect_rejected(g.b, "claims");
}

RawGguf file_with_tensor(uint32_t n_dims, std::vector<uint64_t> ne, uint32_t type, uint64_t offset,
                         size_t data_bytes, uint32_t alignment = 32) {
  RawGguf g;
  g.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(1).put<uint64_t>(0);
  g.str("t").put<uint32_t>(n_dims);
  for (uint64_t d : ne) g.put<uint64_t>(d);
  g.put<uint32_t>(type).put<uint64_t>(offset);
  g.pad_to(alignment);
  g.b.resize(g.b.size() + data_bytes, 0);
  return g;
}

TEST(Gguf, RejectsBadTensorRecords) {
  expect_rejected(file_with_tensor(0, {}, 0, 0, 0).b, "dimensions");
  expect_rejected(file_with_tensor(5, {1, 1, 1, 1, 1}, 0, 0, 4).b, "dimensions");
  expect_rejected(file_with_tensor(1, {4}, 77, 0, 16).b, "unknown tensor type id 77");
  expect_rejected(file_with_tensor(1, {4}, 0, 0, 8).b, "past the end");         // truncated data
  expect_rejected(file_with_tensor(1, {4}, 0, 1u << 30, 16).b, "past the end");  // offset out of range
  expect_rejected(file_with_tensor(1, {4}, 0, 4, 64).b, "not aligned");
  expect_rejected(file_with_tensor(2, {1ull << 40, 1ull << 40}, 0, 0, 16).b, "absurd");
  expect_rejected(file_with_tensor(1, {30}, 8, 0, 64).b, "block size");  // Q8_0 rows are 32-multiples
}

TEST(Gguf, RejectsOverlapDuplicatesAndBadAlignment) {
  RawGguf g;
  g.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(2).put<uint64_t>(0);
  g.str("a").put<uint32_t>(1).put<uint64_t>(16).put<uint32_t>(0).put<uint64_t>(0);
  g.str("b").put<uint32_t>(1).put<uint64_t>(16).put<uint32_t>(0).put<uint64_t>(32);
  g.pad_to(32);
  g.b.resize(g.b.size() + 128, 0);
  expect_rejected(g.b, "overlap");

  RawGguf d;
  d.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(2);
  d.str("k").put<uint32_t>(4).put<uint32_t>(1);
  d.str("k").put<uint32_t>(4).put<uint32_t>(2);
  expect_rejected(d.b, "appears twice");

  RawGguf a;
  a.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1);
  a.str("general.alignment").put<uint32_t>(4).put<uint32_t>(48);
  expect_rejected(a.b, "power of two");

  RawGguf b;
  b.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1);
  b.str("flag").put<uint32_t>(7).put<uint8_t>(5);
  expect_rejected(b.b, "not 0 or 1");

  RawGguf t;
  t.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1);
  t.str("weird").put<uint32_t>(99);
  expect_rejected(t.b, "unknown value type 99");
}

TEST(Gguf, ReadsTheSharedTinyModels) {
  auto f = GgufFile::open(test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf");
  EXPECT_EQ(f->get_string("general.architecture"), "gemma4");
  EXPECT_EQ(f->get_int("gemma4.block_count"), 7);
  EXPECT_EQ(f->get_int_array("gemma4.feed_forward_length", 7),
            (std::vector<int64_t>{256, 256, 256, 256, 512, 512, 512}));
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").size(), 512u);
  const GgufTensor* embd = f->tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->view.shape, (std::vector<int64_t>{512, 128}));
  const GgufTensor* rope = f->tensor("rope_freqs.weight");
  ASSERT_NE(rope, nullptr);
  EXPECT_EQ(reinterpret_cast<const float*>(rope->view.data)[0], 1.0f);
}

}  // namespace
}  // namespace facet
