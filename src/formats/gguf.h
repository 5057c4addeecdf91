// GGUF (version 2 and 3) reading and writing.
//
// GgufFile memory-maps a file, validates the whole header (magic, version, counts,
// every metadata value, every tensor's type, shape, offset and size, alignment) before
// anything is used, and hands out TensorViews that point into the map (no copies).
// Shapes in TensorView are row-major (outermost first), i.e. GGUF's ggml dims reversed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"
#include "util/mapped_file.h"

namespace facet {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
std::string_view gguf_type_name(GgufType type);

// One metadata value. Scalars live in `integer` (all integer types and bool),
// `real` (F32/F64) or `string`. Arrays keep their element type in `array_type` and
// their elements in the matching vector (`integers`, `reals`, `strings`, or `items`
// for nested arrays).
struct GgufValue {
  GgufType type = GgufType::U32;
  GgufType array_type = GgufType::U32;
  int64_t integer = 0;  // u64 values above INT64_MAX are rejected by the reader
  double real = 0;
  std::string string;
  std::vector<int64_t> integers;
  std::vector<double> reals;
  std::vector<std::string> strings;
  std::vector<GgufValue> items;

  bool is_array() const { return type == GgufType::ARRAY; }
  size_t array_size() const;
  bool is_integer_type() const;  // integer or bool scalar
  bool is_real_type() const;

  static GgufValue of_u32(uint32_t v);
  static GgufValue of_i32(int32_t v);
  static GgufValue of_u64(uint64_t v);
  static GgufValue of_f32(float v);
  static GgufValue of_bool(bool v);
  static GgufValue of_string(std::string v);
  static GgufValue of_array(GgufType element_type, std::vector<int64_t> values);
  static GgufValue of_array(std::vector<double> values, GgufType element_type = GgufType::F32);
  static GgufValue of_array(std::vector<std::string> values);
};

struct GgufTensor {
  std::string name;
  TensorView view;      // dtype, row-major shape, pointer into the map
  uint64_t offset = 0;  // from the start of the data section
};

class GgufFile {
 public:
  // Opens and validates; throws Error naming the file and the problem.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Parses bytes held in memory (fuzzing, tests); `name` stands in for the path.
  static std::unique_ptr<GgufFile> from_bytes(std::vector<uint8_t> bytes, const std::string& name);

  const std::string& path() const { return map_.path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  size_t file_size() const { return map_.size(); }
  uint64_t data_offset() const { return data_offset_; }
  void release_pages(const void* p, size_t bytes) const { map_.release_pages(p, bytes); }

  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: throw Error "<file>: metadata key <key> ..." when the key is missing
  // or has the wrong type. The *_or forms return the fallback when the key is missing.
  int64_t get_int(std::string_view key) const;
  int64_t get_int_or(std::string_view key, int64_t fallback) const;
  double get_real(std::string_view key) const;  // accepts integer values too
  double get_real_or(std::string_view key, double fallback) const;
  bool get_bool_or(std::string_view key, bool fallback) const;
  const std::string& get_string(std::string_view key) const;
  std::string get_string_or(std::string_view key, const std::string& fallback) const;
  // An integer array, or a scalar integer broadcast to `broadcast_length` entries
  // (GGUF stores per-layer values either way).
  std::vector<int64_t> get_int_array(std::string_view key, size_t broadcast_length) const;
  const std::vector<std::string>& get_string_array(std::string_view key) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* tensor(std::string_view name) const;

 private:
  explicit GgufFile(MappedFile map) : map_(std::move(map)) {}
  void parse();
  const GgufValue& require_key(std::string_view key) const;

  MappedFile map_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Writes a GGUF v3 file. Metadata is kept in insertion order; tensor data is produced
// by a callback at write time so multi-gigabyte files never sit in memory whole.
class GgufWriter {
 public:
  using Producer = std::function<void(uint8_t* dst, size_t bytes)>;

  void set(const std::string& key, GgufValue value);
  void set_alignment(uint32_t alignment);  // also written as general.alignment
  // `shape` is row-major (outermost first); `produce` fills exactly byte_size bytes.
  void add_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                  Producer produce);
  void add_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                  const void* data);  // copies nothing until write()
  // Writes to `path` atomically (temporary file + rename).
  void write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    Producer produce;
  };
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<PendingTensor> tensors_;
  uint32_t alignment_ = 32;
};

}  // namespace facet
