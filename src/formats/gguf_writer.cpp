// GGUF v3 writer. The output file is sized up front and memory-mapped, and each tensor's
// producer writes straight into the map: a multi-gigabyte model never needs a second
// copy in memory. The file appears under its final name only when complete.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "formats/gguf.h"
#include "util/error.h"

namespace facet {
namespace {

class ByteBuffer {
 public:
  template <typename T>
  void put(T v) {
    append(&v, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    append(s.data(), s.size());
  }
  void append(const void* p, size_t n) {
    size_t at = bytes.size();
    bytes.resize(at + n);
    if (n) std::memcpy(bytes.data() + at, p, n);
  }
  std::vector<uint8_t> bytes;
};

void put_scalar(ByteBuffer& out, GgufType type, int64_t integer, double real) {
  switch (type) {
    case GgufType::U8: out.put<uint8_t>(static_cast<uint8_t>(integer)); break;
    case GgufType::I8: out.put<int8_t>(static_cast<int8_t>(integer)); break;
    case GgufType::U16: out.put<uint16_t>(static_cast<uint16_t>(integer)); break;
    case GgufType::I16: out.put<int16_t>(static_cast<int16_t>(integer)); break;
    case GgufType::U32: out.put<uint32_t>(static_cast<uint32_t>(integer)); break;
    case GgufType::I32: out.put<int32_t>(static_cast<int32_t>(integer)); break;
    case GgufType::U64: out.put<uint64_t>(static_cast<uint64_t>(integer)); break;
    case GgufType::I64: out.put<int64_t>(integer); break;
    case GgufType::BOOL: out.put<uint8_t>(integer ? 1 : 0); break;
    case GgufType::F32: out.put<float>(static_cast<float>(real)); break;
    case GgufType::F64: out.put<double>(real); break;
    default: fail("internal: put_scalar on a non-scalar GGUF type");
  }
}

void put_value(ByteBuffer& out, const GgufValue& v) {
  if (v.type == GgufType::STRING) {
    out.put_string(v.string);
  } else if (v.type == GgufType::ARRAY) {
    out.put<uint32_t>(static_cast<uint32_t>(v.array_type));
    out.put<uint64_t>(v.array_size());
    switch (v.array_type) {
      case GgufType::STRING: for (const auto& s : v.strings) out.put_string(s); break;
      case GgufType::ARRAY: for (const auto& item : v.items) put_value(out, item); break;
      case GgufType::F32: case GgufType::F64:
        for (double r : v.reals) put_scalar(out, v.array_type, 0, r);
        break;
      default: for (int64_t i : v.integers) put_scalar(out, v.array_type, i, 0); break;
    }
  } else {
    put_scalar(out, v.type, v.integer, v.real);
  }
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& kv : metadata_)
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::set_alignment(uint32_t alignment) {
  require(alignment > 0 && (alignment & (alignment - 1)) == 0, "GGUF alignment must be a power of two");
  alignment_ = alignment;
  set("general.alignment", GgufValue::of_u32(alignment));
}

void GgufWriter::add_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                            Producer produce) {
  require(!shape.empty() && shape.size() <= 4, "tensor ", name, ": GGUF needs 1 to 4 dimensions");
  require(shape.back() % dtype_info(dtype).block_size == 0, "tensor ", name,
          ": row length is not a multiple of the block size of ", dtype_name(dtype));
  for (const auto& t : tensors_) require(t.name != name, "tensor ", name, " added twice");
  tensors_.push_back({name, dtype, std::move(shape), std::move(produce)});
}

void GgufWriter::add_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                            const void* data) {
  add_tensor(name, dtype, std::move(shape), [data](uint8_t* dst, size_t bytes) {
    std::memcpy(dst, data, bytes);
  });
}

void GgufWriter::write(const std::string& path) const {
  ByteBuffer header;
  header.put<uint32_t>(0x46554747u);  // "GGUF" read as a little-endian u32
  header.put<uint32_t>(3);
  header.put<uint64_t>(tensors_.size());
  header.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    header.put_string(key);
    header.put<uint32_t>(static_cast<uint32_t>(value.type));
    put_value(header, value);
  }
  std::vector<uint64_t> offsets;
  uint64_t data_size = 0;
  for (const auto& t : tensors_) {
    header.put_string(t.name);
    header.put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) header.put<uint64_t>(static_cast<uint64_t>(*it));
    header.put<uint32_t>(static_cast<uint32_t>(t.dtype));
    data_size = align_up(data_size, alignment_);
    offsets.push_back(data_size);
    header.put<uint64_t>(data_size);
    TensorView v{t.dtype, t.shape, nullptr};
    data_size += v.byte_size();
  }
  const uint64_t data_offset = align_up(header.bytes.size(), alignment_);
  const uint64_t total = data_offset + data_size;

  const std::string tmp = path + ".partial";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(tmp, ": cannot create: ", std::strerror(errno));
  auto fail_with = [&](const char* what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(tmp, ": ", what, ": ", std::strerror(err));
  };
  if (::ftruncate(fd, static_cast<off_t>(total)) != 0) fail_with("cannot size the file");
  void* map = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) fail_with("cannot map the file");
  auto* base = static_cast<uint8_t*>(map);
  std::memcpy(base, header.bytes.data(), header.bytes.size());  // padding stays zero
  try {
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const auto& t = tensors_[i];
      TensorView v{t.dtype, t.shape, nullptr};
      t.produce(base + data_offset + offsets[i], v.byte_size());
    }
  } catch (...) {
    ::munmap(map, total);
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::munmap(map, total) != 0) fail_with("cannot unmap the file");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail(tmp, ": cannot close: ", std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(path, ": cannot rename into place: ", std::strerror(err));
  }
}

}  // namespace facet
