// GGUF reader: every length, count and offset read from the file is checked against
// the bytes that remain before it is used, so a hostile or truncated file produces an
// Error, never an out-of-bounds read or a huge allocation.
#include "formats/gguf.h"

#include <algorithm>
#include <cstring>

#include "util/error.h"

namespace facet {
namespace {

constexpr uint32_t kMaxDims = 4;            // GGML_MAX_DIMS
constexpr uint64_t kMaxNameBytes = 4096;    // tensor names are short; cap to stop absurd reads
constexpr int kMaxArrayNesting = 8;

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

// Bounds-checked little-endian cursor over the mapped bytes.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    uint64_t n = read<uint64_t>(what);
    if (n > remaining())
      fail(path_, ": truncated or corrupt GGUF: ", what, " claims ", n, " bytes at offset ",
           pos_ - 8, " but only ", remaining(), " remain");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

  void need(size_t n, const char* what) const {
    if (n > remaining())
      fail(path_, ": truncated GGUF: file ends while reading ", what, " at offset ", pos_);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

GgufValue read_value(Cursor& in, GgufType type, const std::string& key, const std::string& path,
                     int depth);

void read_array(Cursor& in, GgufValue& v, const std::string& key, const std::string& path,
                int depth) {
  if (depth > kMaxArrayNesting) fail(path, ": metadata key ", key, ": arrays nested too deeply");
  uint32_t elem = in.read<uint32_t>("array element type");
  if (!valid_type(elem)) fail(path, ": metadata key ", key, ": unknown array element type ", elem);
  v.array_type = static_cast<GgufType>(elem);
  uint64_t n = in.read<uint64_t>("array length");
  // Every element takes at least one byte (strings and arrays at least 8), so a count
  // larger than the remaining bytes is corrupt; this check prevents huge allocations.
  size_t min_elem = scalar_size(v.array_type);
  if (min_elem == 0) min_elem = 8;
  if (n > in.remaining() / min_elem)
    fail(path, ": metadata key ", key, ": array length ", n, " exceeds the file size");
  switch (v.array_type) {
    case GgufType::STRING:
      v.strings.reserve(n);
      for (uint64_t i = 0; i < n; ++i) v.strings.push_back(in.read_string("array string"));
      break;
    case GgufType::ARRAY:
      v.items.reserve(n);
      for (uint64_t i = 0; i < n; ++i)
        v.items.push_back(read_value(in, GgufType::ARRAY, key, path, depth + 1));
      break;
    case GgufType::F32:
      v.reals.reserve(n);
      for (uint64_t i = 0; i < n; ++i) v.reals.push_back(in.read<float>("array value"));
      break;
    case GgufType::F64:
      v.reals.reserve(n);
      for (uint64_t i = 0; i < n; ++i) v.reals.push_back(in.read<double>("array value"));
      break;
    default: {
      v.integers.reserve(n);
      for (uint64_t i = 0; i < n; ++i) {
        GgufValue item = read_value(in, v.array_type, key, path, depth + 1);
        v.integers.push_back(item.integer);
      }
    }
  }
}

GgufValue read_value(Cursor& in, GgufType type, const std::string& key, const std::string& path,
                     int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufType::U8: v.integer = in.read<uint8_t>("u8 value"); break;
    case GgufType::I8: v.integer = in.read<int8_t>("i8 value"); break;
    case GgufType::U16: v.integer = in.read<uint16_t>("u16 value"); break;
    case GgufType::I16: v.integer = in.read<int16_t>("i16 value"); break;
    case GgufType::U32: v.integer = in.read<uint32_t>("u32 value"); break;
    case GgufType::I32: v.integer = in.read<int32_t>("i32 value"); break;
    case GgufType::I64: v.integer = in.read<int64_t>("i64 value"); break;
    case GgufType::U64: {
      uint64_t u = in.read<uint64_t>("u64 value");
      if (u > static_cast<uint64_t>(INT64_MAX))
        fail(path, ": metadata key ", key, ": u64 value ", u, " is out of range");
      v.integer = static_cast<int64_t>(u);
      break;
    }
    case GgufType::BOOL: {
      uint8_t b = in.read<uint8_t>("bool value");
      if (b > 1) fail(path, ": metadata key ", key, ": bool value ", int(b), " is not 0 or 1");
      v.integer = b;
      break;
    }
    case GgufType::F32: v.real = in.read<float>("f32 value"); break;
    case GgufType::F64: v.real = in.read<double>("f64 value"); break;
    case GgufType::STRING: v.string = in.read_string("string value"); break;
    case GgufType::ARRAY: read_array(in, v, key, path, depth); break;
  }
  return v;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

std::string_view gguf_type_name(GgufType type) {
  static constexpr std::string_view names[] = {"u8",  "i8",     "u16",   "i16", "u32",
                                               "i32", "f32",    "bool",  "string",
                                               "array", "u64",  "i64",   "f64"};
  auto i = static_cast<uint32_t>(type);
  return i < std::size(names) ? names[i] : "unknown";
}

size_t GgufValue::array_size() const {
  if (!is_array()) return 0;
  switch (array_type) {
    case GgufType::STRING: return strings.size();
    case GgufType::ARRAY: return items.size();
    case GgufType::F32: case GgufType::F64: return reals.size();
    default: return integers.size();
  }
}

bool GgufValue::is_integer_type() const {
  return !is_array() && type != GgufType::F32 && type != GgufType::F64 &&
         type != GgufType::STRING;
}
bool GgufValue::is_real_type() const { return type == GgufType::F32 || type == GgufType::F64; }

GgufValue GgufValue::of_u32(uint32_t x) { GgufValue v; v.type = GgufType::U32; v.integer = x; return v; }
GgufValue GgufValue::of_i32(int32_t x) { GgufValue v; v.type = GgufType::I32; v.integer = x; return v; }
GgufValue GgufValue::of_u64(uint64_t x) { GgufValue v; v.type = GgufType::U64; v.integer = static_cast<int64_t>(x); return v; }
GgufValue GgufValue::of_f32(float x) { GgufValue v; v.type = GgufType::F32; v.real = x; return v; }
GgufValue GgufValue::of_bool(bool x) { GgufValue v; v.type = GgufType::BOOL; v.integer = x; return v; }
GgufValue GgufValue::of_string(std::string x) { GgufValue v; v.type = GgufType::STRING; v.string = std::move(x); return v; }
GgufValue GgufValue::of_array(GgufType element_type, std::vector<int64_t> values) {
  GgufValue v;
  v.type = GgufType::ARRAY;
  v.array_type = element_type;
  v.integers = std::move(values);
  return v;
}
GgufValue GgufValue::of_array(std::vector<double> values, GgufType element_type) {
  GgufValue v;
  v.type = GgufType::ARRAY;
  v.array_type = element_type;
  v.reals = std::move(values);
  return v;
}
GgufValue GgufValue::of_array(std::vector<std::string> values) {
  GgufValue v;
  v.type = GgufType::ARRAY;
  v.array_type = GgufType::STRING;
  v.strings = std::move(values);
  return v;
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> file(new GgufFile(MappedFile(path)));
  file->parse();
  return file;
}

std::unique_ptr<GgufFile> GgufFile::from_bytes(std::vector<uint8_t> bytes, const std::string& name) {
  std::unique_ptr<GgufFile> file(new GgufFile(MappedFile::from_bytes(std::move(bytes), name)));
  file->parse();
  return file;
}

void GgufFile::parse() {
  const std::string& p = map_.path();
  Cursor in(map_.data(), map_.size(), p);
  if (map_.size() < 4 || std::memcmp(map_.data(), "GGUF", 4) != 0)
    fail(p, ": not a GGUF file (the first 4 bytes are not \"GGUF\")");
  in.read<uint32_t>("magic");
  version_ = in.read<uint32_t>("version");
  if (version_ == 1) fail(p, ": GGUF version 1 is obsolete; re-convert the model");
  if (version_ > 0xffff) fail(p, ": GGUF version field ", version_, " looks byte-swapped (big-endian GGUF is not supported)");
  if (version_ != 2 && version_ != 3) fail(p, ": unsupported GGUF version ", version_, " (expected 2 or 3)");

  uint64_t n_tensors = in.read<uint64_t>("tensor count");
  uint64_t n_kv = in.read<uint64_t>("metadata count");
  // A key-value pair takes at least 8+4+1 bytes and a tensor record at least 8+4+8+4+8.
  if (n_kv > in.remaining() / 13) fail(p, ": metadata count ", n_kv, " is larger than the file can hold");
  if (n_tensors > in.remaining() / 32) fail(p, ": tensor count ", n_tensors, " is larger than the file can hold");

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = in.read_string("metadata key");
    uint32_t t = in.read<uint32_t>("metadata value type");
    if (!valid_type(t)) fail(p, ": metadata key ", key, ": unknown value type ", t);
    GgufValue value = read_value(in, static_cast<GgufType>(t), key, p, 0);
    if (!metadata_.emplace(key, std::move(value)).second)
      fail(p, ": metadata key ", key, " appears twice");
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (!a->is_integer_type() || a->integer <= 0 || (a->integer & (a->integer - 1)) != 0)
      fail(p, ": general.alignment must be a positive power of two");
    alignment_ = static_cast<uint64_t>(a->integer);
  }

  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    uint64_t name_len = in.read<uint64_t>("tensor name length");
    if (name_len > kMaxNameBytes || name_len > in.remaining())
      fail(p, ": tensor #", i, ": name length ", name_len, " is invalid");
    in.need(name_len, "tensor name");
    t.name.assign(reinterpret_cast<const char*>(map_.data() + in.position()), name_len);
    for (uint64_t k = 0; k < name_len; ++k) in.read<uint8_t>("tensor name");
    uint32_t n_dims = in.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      fail(p, ": tensor ", t.name, ": ", n_dims, " dimensions (expected 1 to ", kMaxDims, ")");
    std::vector<int64_t> ne(n_dims);
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t n = in.read<uint64_t>("tensor dimension");
      if (n > static_cast<uint64_t>(INT64_MAX) || (n != 0 && static_cast<uint64_t>(numel) > static_cast<uint64_t>(INT64_MAX) / n))
        fail(p, ": tensor ", t.name, ": dimension ", d, " = ", n, " is absurd");
      ne[d] = static_cast<int64_t>(n);
      numel *= ne[d];
    }
    uint32_t type_id = in.read<uint32_t>("tensor type");
    auto info = dtype_info(type_id);
    if (!info || info->dtype == DType::NF4) fail(p, ": tensor ", t.name, ": unknown tensor type id ", type_id);
    if (ne[0] % info->block_size != 0)
      fail(p, ": tensor ", t.name, ": row length ", ne[0], " is not a multiple of the ",
           info->name, " block size ", info->block_size);
    t.offset = in.read<uint64_t>("tensor offset");
    t.view.dtype = info->dtype;
    t.view.shape.assign(ne.rbegin(), ne.rend());  // ggml ne0 is innermost
    if (!tensor_index_.emplace(t.name, tensors_.size()).second)
      fail(p, ": tensor ", t.name, " appears twice");
    tensors_.push_back(std::move(t));
  }

  data_offset_ = align_up(in.position(), alignment_);
  if (data_offset_ > map_.size() && n_tensors > 0)
    fail(p, ": truncated GGUF: the tensor data section starts past the end of the file");
  uint64_t data_size = map_.size() > data_offset_ ? map_.size() - data_offset_ : 0;

  // Offsets and sizes: aligned, inside the file, non-overlapping.
  std::vector<std::pair<uint64_t, uint64_t>> extents;  // [begin, end) per tensor
  extents.reserve(tensors_.size());
  for (GgufTensor& t : tensors_) {
    uint64_t bytes = t.view.byte_size();
    if (t.offset % alignment_ != 0)
      fail(p, ": tensor ", t.name, ": data offset ", t.offset, " is not aligned to ", alignment_);
    if (t.offset > data_size || bytes > data_size - t.offset)
      fail(p, ": tensor ", t.name, " (", dtype_name(t.view.dtype), " ", shape_string(t.view.shape),
           ", ", bytes, " bytes at data offset ", t.offset, ") extends past the end of the file (truncated?)");
    t.view.data = map_.data() + data_offset_ + t.offset;
    extents.emplace_back(t.offset, t.offset + bytes);
  }
  std::sort(extents.begin(), extents.end());
  for (size_t i = 1; i < extents.size(); ++i)
    if (extents[i].first < extents[i - 1].second)
      fail(p, ": tensor data regions overlap at data offset ", extents[i].first);
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_.find(std::string(key));
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufValue& GgufFile::require_key(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail(path(), ": metadata key ", key, " is missing");
  return *v;
}

int64_t GgufFile::get_int(std::string_view key) const {
  const GgufValue& v = require_key(key);
  if (!v.is_integer_type())
    fail(path(), ": metadata key ", key, " is ", gguf_type_name(v.type), ", expected an integer");
  return v.integer;
}

int64_t GgufFile::get_int_or(std::string_view key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double GgufFile::get_real(std::string_view key) const {
  const GgufValue& v = require_key(key);
  if (v.is_real_type()) return v.real;
  if (v.is_integer_type()) return static_cast<double>(v.integer);
  fail(path(), ": metadata key ", key, " is ", gguf_type_name(v.type), ", expected a number");
}

double GgufFile::get_real_or(std::string_view key, double fallback) const {
  return has(key) ? get_real(key) : fallback;
}

bool GgufFile::get_bool_or(std::string_view key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (!v->is_integer_type())
    fail(path(), ": metadata key ", key, " is ", gguf_type_name(v->type), ", expected a bool");
  return v->integer != 0;
}

const std::string& GgufFile::get_string(std::string_view key) const {
  const GgufValue& v = require_key(key);
  if (v.type != GgufType::STRING)
    fail(path(), ": metadata key ", key, " is ", gguf_type_name(v.type), ", expected a string");
  return v.string;
}

std::string GgufFile::get_string_or(std::string_view key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

std::vector<int64_t> GgufFile::get_int_array(std::string_view key, size_t broadcast_length) const {
  const GgufValue& v = require_key(key);
  if (v.is_integer_type()) return std::vector<int64_t>(broadcast_length, v.integer);
  if (!v.is_array() || v.array_type == GgufType::STRING || v.array_type == GgufType::ARRAY ||
      v.array_type == GgufType::F32 || v.array_type == GgufType::F64)
    fail(path(), ": metadata key ", key, " must be an integer or an array of integers");
  if (v.integers.size() != broadcast_length)
    fail(path(), ": metadata key ", key, " has ", v.integers.size(), " entries, expected ",
         broadcast_length);
  return v.integers;
}

const std::vector<std::string>& GgufFile::get_string_array(std::string_view key) const {
  const GgufValue& v = require_key(key);
  if (!v.is_array() || v.array_type != GgufType::STRING)
    fail(path(), ": metadata key ", key, " must be an array of strings");
  return v.strings;
}

const GgufTensor* GgufFile::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace facet
