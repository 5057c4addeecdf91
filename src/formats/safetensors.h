// Hugging Face safetensors reading and writing, single files and sharded sets.
//
// File layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON (an object
// mapping tensor names to {dtype, shape, data_offsets} plus an optional "__metadata__"
// string->string map, padded with trailing spaces), then the data section. Offsets are
// relative to the data section; the tensors must tile it exactly (no overlap, no holes,
// nothing after the last tensor) as the format requires.
//
// SafetensorsFile memory-maps and validates the whole header before anything is used and
// hands out TensorViews pointing into the map (no copies). Tensors of dtypes facet cannot
// compute with (F8, U8, BOOL, ... as found in vision/audio towers) are listed with
// supported == false; they are an error only when someone asks for their values.
//
// Data in a safetensors file is not aligned per tensor: a view's data pointer may be
// misaligned for its element type (files written by SafetensorsWriter keep every tensor
// naturally aligned, files from elsewhere may not), so readers must use memcpy-style loads.
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

// Largest header accepted (the reference implementation uses the same limit).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// Bits per element of a safetensors dtype name ("F32" -> 32, "F4" -> 4), or nullopt when
// the name is not a safetensors dtype.
std::optional<uint32_t> safetensors_dtype_bits(std::string_view dtype_name);

struct SafetensorsTensor {
  std::string name;
  std::string dtype_name;   // as written in the file: "BF16", "F8_E4M3", ...
  bool supported = false;  // dtype maps to a DType facet can compute with
  TensorView view;          // shape and data always set; dtype meaningful only if supported
  uint64_t offset = 0;      // begin, relative to the data section
  uint64_t byte_size = 0;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`; throws Error naming the file (and tensor) on bad input.
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  // Parses a file image held in memory (fuzzing, tests). `bytes` must outlive the result;
  // `name` stands for the path in error messages.
  static std::unique_ptr<SafetensorsFile> parse_buffer(const uint8_t* bytes, size_t size,
                                                       std::string name);

  const std::string& path() const { return path_; }
  size_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }  // 8 + header length

  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }  // by name
  const SafetensorsTensor* tensor(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  void parse();

  std::optional<MappedFile> map_;  // empty for parse_buffer
  std::string path_;
  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0;
  uint64_t data_offset_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  std::map<std::string, std::string> metadata_;
};

// A whole checkpoint: one .safetensors file, or a Hugging Face model folder holding either
// model.safetensors.index.json (+ the shards its weight_map names) or model.safetensors.
class SafetensorsSet {
 public:
  // `path` is a .safetensors file or a folder; throws Error naming the file on bad input.
  static std::unique_ptr<SafetensorsSet> open(const std::string& path);

  const std::string& path() const { return path_; }
  // The tensor, or nullptr when the checkpoint has no tensor of that name.
  const SafetensorsTensor* find(std::string_view name) const;
  // The tensor's view; throws Error naming the tensor and its file when it is missing or
  // its dtype is one facet cannot compute with.
  const TensorView& view(std::string_view name) const;
  // The file holding a tensor, or nullptr.
  const SafetensorsFile* file_of(std::string_view name) const;
  std::vector<std::string> names() const;  // sorted
  std::vector<std::string> file_paths() const;  // every file opened, index order
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  // __metadata__ of the first file (shards written together carry the same one).
  const std::map<std::string, std::string>& metadata() const;

 private:
  SafetensorsSet() = default;
  void open_index(const std::string& dir, const std::string& index_path);
  void add_whole_file(const std::string& file_path);

  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  // name -> (file index, tensor)
  std::map<std::string, std::pair<size_t, const SafetensorsTensor*>, std::less<>> tensors_;
};

// Writes safetensors files. Tensor data is produced by a callback at write time, one tensor
// at a time, so multi-gigabyte checkpoints never sit in memory whole.
class SafetensorsWriter {
 public:
  using Producer = std::function<void(uint8_t* dst, size_t bytes)>;

  // `shape` is row-major (outermost first); `produce` fills exactly the tensor's byte size.
  // DTypes without a safetensors name (GGML block-quantized types, NF4) are rejected.
  void add_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                  Producer produce);
  void add_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                  const void* data);  // copies nothing until write()
  // Raw bytes labelled U8 (bitsandbytes' packed 4-bit codes and quant-state blobs).
  void add_u8_tensor(const std::string& name, std::vector<int64_t> shape, Producer produce);
  void set_metadata(const std::string& key, const std::string& value);
  size_t tensor_count() const { return tensors_.size(); }

  // Writes one file atomically (temporary file + rename).
  void write(const std::string& path) const;
  // Writes `dir`/model-0000i-of-0000N.safetensors shards of at most `max_shard_bytes` of
  // tensor data each (a bigger tensor gets a shard of its own) plus
  // model.safetensors.index.json; or a single `dir`/model.safetensors when all fits in one.
  // Returns the paths written (shards first, index last).
  std::vector<std::string> write_sharded(const std::string& dir, uint64_t max_shard_bytes) const;

 private:
  struct PendingTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t byte_size;
    Producer produce;
    bool u8 = false;
  };
  void write_file(const std::string& path, const std::vector<const PendingTensor*>& tensors) const;

  std::vector<PendingTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace facet
