// MappedFile: large files are mapped at a 2 MiB boundary (so the kernel may use huge pages
// for them) and read back byte for byte; small files, empty files and errors as before.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "util/error.h"
#include "util/mapped_file.h"

namespace facet {
namespace {

std::string write_file(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

TEST(MappedFile, LargeFilesMapAtA2MiBBoundaryWithTheirBytes) {
  // 5 MiB and a bit: the mapping's end is not a multiple of anything either.
  std::vector<uint8_t> bytes((size_t{5} << 20) + 12345);
  std::mt19937 rng(7);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  const std::string path = write_file("facet_mapped_large.bin", bytes);
  {
    MappedFile f(path);
    ASSERT_EQ(f.size(), bytes.size());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data()) % (uintptr_t{2} << 20), 0u);
    EXPECT_EQ(std::vector<uint8_t>(f.data(), f.data() + f.size()), bytes);
    MappedFile moved(std::move(f));  // the mapping moves with its owner
    EXPECT_EQ(moved.data()[bytes.size() - 1], bytes.back());
  }
  std::remove(path.c_str());
}

TEST(MappedFile, SmallAndEmptyFilesAndErrors) {
  const std::vector<uint8_t> small = {1, 2, 3, 4, 5};
  const std::string path = write_file("facet_mapped_small.bin", small);
  MappedFile f(path);
  EXPECT_EQ(std::vector<uint8_t>(f.data(), f.data() + f.size()), small);
  const std::string empty = write_file("facet_mapped_empty.bin", {});
  EXPECT_EQ(MappedFile(empty).size(), 0u);
  EXPECT_THROW(MappedFile("/nonexistent/facet/file.bin"), Error);
  std::remove(path.c_str());
  std::remove(empty.c_str());
}

}  // namespace
}  // namespace facet
