// A read-only memory map of a whole file. Weights are read straight from the map,
// so loading a model costs page-table set-up, not a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace facet {

class MappedFile {
 public:
  // Maps `path` read-only; throws Error naming the path if it cannot be opened.
  explicit MappedFile(const std::string& path);
  // An in-memory "file" (tests and fuzzing): same interface, no mapping.
  static MappedFile from_bytes(std::vector<uint8_t> bytes, std::string name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Gives back the memory of the whole pages inside [p, p + bytes) that nothing will read
  // soon (weights copied elsewhere at load): they leave the resident set and would be read
  // from the file again if touched. Does nothing on an in-memory "file" (from_bytes), whose
  // bytes would be lost, or outside the map.
  void release_pages(const void* p, size_t bytes) const;

 private:
  MappedFile() = default;
  void release();
  std::vector<uint8_t> owned_;  // only for from_bytes
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Anonymous read-write memory of `bytes`, 2 MiB-aligned and asking for huge pages like the
// file maps (for weights copied at load); freed when the last owner goes. Throws Error if the
// system refuses.
std::shared_ptr<uint8_t> allocate_huge_aligned(size_t bytes);

// Asks for small pages over [data, data + bytes) of a mapping: for a table read a few rows at a
// time (the per-layer-embedding table), where one 2 MiB page per row touched would make most
// of the table resident for nothing. Harmless on memory that is not a file mapping.
void advise_sparse_reads(const void* data, size_t bytes);

}  // namespace facet
