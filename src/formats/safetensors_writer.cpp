// SafetensorsWriter: streams tensors into single files or Hugging Face shard sets.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "util/error.h"

namespace facet {
namespace {

namespace fs = std::filesystem;

// A file written under a temporary name and renamed into place only when complete, so a
// crash or a failing producer never leaves a half-written checkpoint under the real name.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path)
      : path_(std::move(path)), temp_(str_cat(path_, ".partial-", ::getpid())) {
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(path_, ": cannot create ", temp_, ": ", std::strerror(errno));
  }
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (bytes > 0) {
      ssize_t n = ::write(fd_, p, bytes);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail(path_, ": write failed: ", std::strerror(errno));
      p += n;
      bytes -= static_cast<size_t>(n);
    }
  }
  void commit() {
    if (::fsync(fd_) != 0) fail(path_, ": fsync failed: ", std::strerror(errno));
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) fail(path_, ": close failed: ", std::strerror(errno));
    if (::rename(temp_.c_str(), path_.c_str()) != 0)
      fail(path_, ": cannot rename ", temp_, " into place: ", std::strerror(errno));
    committed_ = true;
  }

 private:
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

// nlohmann-json refuses to serialize invalid UTF-8; report that as bad input.
std::string dump_json(const nlohmann::json& value, const std::string& path, int indent) {
  try {
    return value.dump(indent);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": tensor names and metadata must be valid UTF-8 (", e.what(), ")");
  }
}

uint32_t element_bits(DType dtype) {
  return safetensors_dtype_bits(dtype_name(dtype)).value_or(0);
}

}  // namespace

void SafetensorsWriter::add_tensor(const std::string& name, DType dtype,
                                   std::vector<int64_t> shape, Producer produce) {
  require(!name.empty() && name != "__metadata__", "safetensors writer: invalid tensor name \"",
          name, "\"");
  for (const auto& t : tensors_)
    require(t.name != name, "safetensors writer: tensor ", name, " added twice");
  const uint32_t bits = element_bits(dtype);
  require(bits != 0 && dtype_info(dtype).block_size == 1, "safetensors writer: tensor ", name,
          ": dtype ", dtype_name(dtype), " has no safetensors equivalent");
  require(static_cast<bool>(produce), "safetensors writer: tensor ", name, " has no data");
  uint64_t numel = 1;
  for (int64_t d : shape) {
    require(d >= 0, "safetensors writer: tensor ", name, " has negative shape ",
            shape_string(shape));
    require(!__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel),
            "safetensors writer: tensor ", name, " shape ", shape_string(shape), " overflows");
  }
  uint64_t total_bits = 0;
  require(!__builtin_mul_overflow(numel, uint64_t{bits}, &total_bits),
          "safetensors writer: tensor ", name, " shape ", shape_string(shape), " overflows");
  tensors_.push_back({name, dtype, std::move(shape), total_bits / 8, std::move(produce)});
}

void SafetensorsWriter::add_tensor(const std::string& name, DType dtype,
                                   std::vector<int64_t> shape, const void* data) {
  add_tensor(name, dtype, std::move(shape),
             [data](uint8_t* dst, size_t bytes) { std::memcpy(dst, data, bytes); });
  if (data == nullptr && tensors_.back().byte_size > 0) {  // null is fine for empty tensors
    tensors_.pop_back();
    fail("safetensors writer: tensor ", name, " has no data");
  }
}

void SafetensorsWriter::add_u8_tensor(const std::string& name, std::vector<int64_t> shape, Producer produce) {
  // Stored as I8 (same size and alignment) and labelled U8 in the header.
  add_tensor(name, DType::I8, std::move(shape), std::move(produce));
  tensors_.back().u8 = true;
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

void SafetensorsWriter::write(const std::string& path) const {
  std::vector<const PendingTensor*> all;
  for (const auto& t : tensors_) all.push_back(&t);
  write_file(path, all);
}

void SafetensorsWriter::write_file(const std::string& path,
                                   const std::vector<const PendingTensor*>& tensors) const {
  // Widest elements first: with a data section starting 8-aligned and no gaps allowed, this
  // keeps every tensor naturally aligned for mmap readers. Ties keep the caller's order.
  std::vector<const PendingTensor*> order = tensors;
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return element_bits(a->dtype) > element_bits(b->dtype);
  });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const auto* t : order) {
    header[t->name] = {{"dtype", t->u8 ? std::string("U8") : std::string(dtype_name(t->dtype))},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->byte_size}}};
    offset += t->byte_size;
  }
  std::string text = dump_json(header, path, -1);
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned

  AtomicFile out(path);
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(uint64_t{text.size()} >> (8 * i));
  out.write(length, sizeof length);
  out.write(text.data(), text.size());
  std::vector<uint8_t> buffer;  // one tensor at a time, reused
  for (const auto* t : order) {
    if (t->byte_size == 0) continue;
    buffer.resize(t->byte_size);
    t->produce(buffer.data(), buffer.size());
    out.write(buffer.data(), buffer.size());
  }
  out.commit();
}

std::vector<std::string> SafetensorsWriter::write_sharded(const std::string& dir,
                                                          uint64_t max_shard_bytes) const {
  require(max_shard_bytes > 0, dir, ": max shard size must be positive");
  std::error_code ec;
  fs::create_directories(dir, ec);
  require(!ec, dir, ": cannot create folder: ", ec.message());

  // Greedy in insertion order, so a layer's tensors stay together.
  std::vector<std::vector<const PendingTensor*>> shards(1);
  uint64_t shard_bytes = 0, total_bytes = 0;
  for (const auto& t : tensors_) {
    if (!shards.back().empty() && shard_bytes + t.byte_size > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&t);
    shard_bytes += t.byte_size;
    total_bytes += t.byte_size;
  }

  const fs::path folder(dir);
  const std::string index_path = (folder / "model.safetensors.index.json").string();
  if (shards.size() == 1) {
    const std::string path = (folder / "model.safetensors").string();
    write_file(path, shards[0]);
    // A stale index would take precedence over the file just written.
    fs::remove(index_path, ec);
    return {path};
  }

  std::vector<std::string> written;
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    written.push_back((folder / name).string());
    write_file(written.back(), shards[i]);
    for (const auto* t : shards[i]) weight_map[t->name] = name;
  }
  nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}},
                          {"weight_map", std::move(weight_map)}};
  std::string text = dump_json(index, index_path, 2) + "\n";
  AtomicFile out(index_path);
  out.write(text.data(), text.size());
  out.commit();
  written.push_back(index_path);
  return written;
}

}  // namespace facet
