// SafetensorsFile: validation of the header and the data layout.
#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "formats/safetensors.h"
#include "formats/strict_json.h"
#include "util/error.h"

namespace facet {
namespace {

struct SafetensorsDType {
  std::string_view name;
  uint32_t bits;
  std::optional<DType> computable;  // set for the dtypes facet has kernels for
};

// Every dtype the safetensors format defines. Only F32/F16/BF16 are computed with; the
// others (vision/audio towers, quantized exports) are read as opaque bytes.
constexpr std::array<SafetensorsDType, 20> kDTypes = {{
    {"F32", 32, DType::F32},   {"F16", 16, DType::F16},   {"BF16", 16, DType::BF16},
    {"F64", 64, std::nullopt}, {"C64", 64, std::nullopt}, {"I64", 64, std::nullopt},
    {"U64", 64, std::nullopt}, {"I32", 32, std::nullopt}, {"U32", 32, std::nullopt},
    {"I16", 16, std::nullopt}, {"U16", 16, std::nullopt}, {"I8", 8, std::nullopt},
    {"U8", 8, std::nullopt},   {"BOOL", 8, std::nullopt}, {"F8_E4M3", 8, std::nullopt},
    {"F8_E5M2", 8, std::nullopt}, {"F8_E8M0", 8, std::nullopt},
    {"F6_E2M3", 6, std::nullopt}, {"F6_E3M2", 6, std::nullopt}, {"F4", 4, std::nullopt},
}};

const SafetensorsDType* find_dtype(std::string_view name) {
  for (const auto& t : kDTypes)
    if (t.name == name) return &t;
  return nullptr;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A JSON non-negative integer that fits `limit`, or an Error naming the field.
uint64_t unsigned_field(const nlohmann::json& value, uint64_t limit, const std::string& where) {
  if (!value.is_number_unsigned()) {
    // Numbers are short enough to quote; anything else is described by its type only.
    if (value.is_number()) fail(where, " must be a non-negative integer, got ", value.dump());
    fail(where, " must be a non-negative integer, got a ", value.type_name());
  }
  uint64_t v = value.get<uint64_t>();
  require(v <= limit, where, " = ", v, " is too large");
  return v;
}

}  // namespace

std::optional<uint32_t> safetensors_dtype_bits(std::string_view dtype_name) {
  const auto* t = find_dtype(dtype_name);
  if (t == nullptr) return std::nullopt;
  return t->bits;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->map_.emplace(path);
  file->path_ = path;
  file->bytes_ = file->map_->data();
  file->size_ = file->map_->size();
  file->parse();
  return file;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::parse_buffer(const uint8_t* bytes, size_t size,
                                                               std::string name) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = std::move(name);
  file->bytes_ = bytes;
  file->size_ = size;
  file->parse();
  return file;
}

const SafetensorsTensor* SafetensorsFile::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

void SafetensorsFile::parse() {
  const std::string& file = path_;
  require(size_ >= 8, file, ": truncated: ", size_,
          " bytes, a safetensors file starts with an 8-byte header length");
  const uint64_t header_len = read_u64_le(bytes_);
  require(header_len <= kSafetensorsMaxHeaderBytes, file, ": header length ", header_len,
          " exceeds the limit of ", kSafetensorsMaxHeaderBytes, " bytes");
  require(header_len <= size_ - 8, file, ": header length ", header_len,
          " runs past the end of the file (", size_, " bytes)");
  require(header_len >= 2 && bytes_[8] == '{', file,
          ": header must be a JSON object starting with '{'");
  data_offset_ = 8 + header_len;
  const uint64_t data_size = size_ - data_offset_;

  std::string_view text(reinterpret_cast<const char*>(bytes_ + 8), header_len);
  nlohmann::json header = parse_json_strict(text, file + " header");
  require(header.is_object(), file, ": header must be a JSON object");

  tensors_.reserve(header.size());
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      require(entry.is_object(), file, ": __metadata__ must be an object of strings");
      for (const auto& [key, value] : entry.items()) {
        require(value.is_string(), file, ": __metadata__ value for \"", key,
                "\" must be a string");
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = str_cat(file, ": tensor ", name);
    require(entry.is_object(), where, ": entry must be an object");
    auto dtype_it = entry.find("dtype");
    auto shape_it = entry.find("shape");
    auto offsets_it = entry.find("data_offsets");
    require(dtype_it != entry.end() && shape_it != entry.end() && offsets_it != entry.end(),
            where, ": entry needs dtype, shape and data_offsets");

    SafetensorsTensor t;
    t.name = name;
    require(dtype_it->is_string(), where, ": dtype must be a string");
    t.dtype_name = dtype_it->get<std::string>();
    const SafetensorsDType* dtype = find_dtype(t.dtype_name);
    require(dtype != nullptr, where, ": unknown dtype \"", t.dtype_name, "\"");
    t.supported = dtype->computable.has_value();
    if (t.supported) t.view.dtype = *dtype->computable;

    require(shape_it->is_array(), where, ": shape must be an array");
    // Element count and bit count are tracked in u64 with overflow checks; numel must also
    // fit TensorView's int64 arithmetic.
    uint64_t numel = 1;
    constexpr uint64_t kMaxNumel = std::numeric_limits<int64_t>::max();
    for (const auto& dim : *shape_it) {
      uint64_t d = unsigned_field(dim, kMaxNumel, where + " shape dimension");
      t.view.shape.push_back(static_cast<int64_t>(d));
      require(!__builtin_mul_overflow(numel, d, &numel) && numel <= kMaxNumel, where,
              ": shape ", shape_string(t.view.shape), "... has too many elements");
    }
    uint64_t bits = 0;
    require(!__builtin_mul_overflow(numel, uint64_t{dtype->bits}, &bits), where, ": shape ",
            shape_string(t.view.shape), " of ", t.dtype_name, " is too large");
    require(bits % 8 == 0, where, ": ", numel, " elements of ", t.dtype_name,
            " do not fill whole bytes");
    t.byte_size = bits / 8;

    require(offsets_it->is_array() && offsets_it->size() == 2, where,
            ": data_offsets must be [begin, end]");
    uint64_t begin = unsigned_field((*offsets_it)[0], std::numeric_limits<uint64_t>::max(),
                                    where + " data_offsets begin");
    uint64_t end = unsigned_field((*offsets_it)[1], std::numeric_limits<uint64_t>::max(),
                                  where + " data_offsets end");
    require(begin <= end, where, ": data_offsets [", begin, ", ", end, "] are reversed");
    require(end <= data_size, where, ": data_offsets [", begin, ", ", end,
            "] run past the data section (", data_size, " bytes)");
    require(end - begin == t.byte_size, where, ": data_offsets [", begin, ", ", end, "] hold ",
            end - begin, " bytes but shape ", shape_string(t.view.shape), " of ", t.dtype_name,
            " needs ", t.byte_size);
    t.offset = begin;
    t.view.data = bytes_ + data_offset_ + begin;
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The tensors must tile the data section: sorted by offset, each starts where the previous
  // one ended, and the last ends at the end of the file. This rejects overlapping tensors
  // (aliasing) and hidden bytes (polyglot files), as the format requires.
  std::vector<const SafetensorsTensor*> by_offset;
  for (const auto& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->offset != b->offset ? a->offset < b->offset : a->byte_size < b->byte_size;
  });
  uint64_t cursor = 0;
  const SafetensorsTensor* previous = nullptr;
  for (const auto* t : by_offset) {
    if (t->offset < cursor)
      fail(file, ": tensor ", t->name, " (bytes ", t->offset, "..", t->offset + t->byte_size,
           ") overlaps tensor ", previous->name, " (ending at ", cursor, ")");
    if (t->offset > cursor)
      fail(file, ": gap of ", t->offset - cursor, " bytes before tensor ", t->name,
           " at data offset ", cursor, " (tensors must fill the data section)");
    cursor += t->byte_size;
    previous = t;
  }
  require(cursor == data_size, file, ": ", data_size - cursor,
          " bytes after the last tensor (tensors must fill the data section exactly)");
}

}  // namespace facet
