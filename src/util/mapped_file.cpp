#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace facet {
namespace {

// Maps `size` bytes of fd read-only (fd -1: anonymous read-write memory) at a 2 MiB-aligned
// address and asks for huge pages. Aligned, every file offset sits at the same place in a 2 MiB
// page as its address, so the kernel can map page-cache folios of 2 MiB (file systems with
// large folios) with one entry: fewer TLB misses, and a stream of weights no longer stops the
// hardware prefetcher at every 4 KiB page. Where huge pages are not available this is an
// ordinary mapping.
void* map_aligned(int fd, size_t size) {
  constexpr size_t kHuge = size_t{2} << 20;
  const int prot = fd < 0 ? PROT_READ | PROT_WRITE : PROT_READ;
  const int flags = fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_PRIVATE;
  if (size < kHuge) return ::mmap(nullptr, size, prot, flags, fd, 0);
  // Reserve room to slide to an aligned start, then map the file over it.
  void* area = ::mmap(nullptr, size + kHuge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) return ::mmap(nullptr, size, prot, flags, fd, 0);
  const uintptr_t base = reinterpret_cast<uintptr_t>(area);
  const uintptr_t aligned = (base + kHuge - 1) & ~(uintptr_t{kHuge} - 1);
  void* p = ::mmap(reinterpret_cast<void*>(aligned), size, prot, flags | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) {
    ::munmap(area, size + kHuge);
    return ::mmap(nullptr, size, prot, flags, fd, 0);
  }
  // Give back the unused ends of the reservation.
  if (aligned > base) ::munmap(area, aligned - base);
  const uintptr_t end = aligned + size, reserved_end = base + size + kHuge;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t tail = (end + page - 1) & ~(page - 1);
  if (reserved_end > tail) ::munmap(reinterpret_cast<void*>(tail), reserved_end - tail);
  ::madvise(p, size, MADV_HUGEPAGE);
  return p;
}

// The whole pages inside [p, p + bytes) (first == last: none).
void inner_pages(const void* p, size_t bytes, uintptr_t& first, uintptr_t& last) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(p);
  first = (begin + page - 1) & ~(page - 1);
  last = std::max(first, (begin + bytes) & ~(page - 1));
}

}  // namespace

std::shared_ptr<uint8_t> allocate_huge_aligned(size_t bytes) {
  void* p = map_aligned(-1, bytes);
  if (p == MAP_FAILED) fail("cannot allocate ", bytes >> 20, " MiB: ", std::strerror(errno));
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [bytes](uint8_t* q) { ::munmap(q, bytes); });
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(path, ": cannot stat: ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, ": not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = map_aligned(fd, size_);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail(path, ": cannot map: ", std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
}

MappedFile MappedFile::from_bytes(std::vector<uint8_t> bytes, std::string name) {
  MappedFile f;
  f.path_ = std::move(name);
  f.owned_ = std::move(bytes);
  f.data_ = f.owned_.data();
  f.size_ = f.owned_.size();
  return f;
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : owned_(std::move(other.owned_)), path_(std::move(other.path_)), data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    owned_ = std::move(other.owned_);
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void MappedFile::release() {
  if (data_ != nullptr && owned_.empty()) ::munmap(const_cast<uint8_t*>(data_), size_);
  owned_.clear();
  data_ = nullptr;
  size_ = 0;
}

void MappedFile::release_pages(const void* p, size_t bytes) const {
  if (!owned_.empty() || data_ == nullptr) return;  // only a file mapping can re-read what it drops
  const auto begin = reinterpret_cast<uintptr_t>(p), end = begin + bytes;
  const auto map_begin = reinterpret_cast<uintptr_t>(data_), map_end = map_begin + size_;
  if (begin < map_begin || end > map_end || begin >= end) return;
  uintptr_t first, last;
  inner_pages(p, bytes, first, last);
  if (first < last) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);  // a hint: errors change nothing
}

void advise_sparse_reads(const void* data, size_t bytes) {
  if (data == nullptr || bytes == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes + page - 1) & ~(page - 1);
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_NOHUGEPAGE);  // a hint: errors change nothing
}

}  // namespace facet
