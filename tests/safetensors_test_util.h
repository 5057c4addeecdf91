// Helpers for the safetensors tests: a scratch folder and hand-built file images, so bad
// files are crafted byte by byte rather than produced by the writer under test.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>

#include "util/error.h"

namespace facet::test {

// A fresh folder under /tmp, removed with everything in it when the object goes away.
class ScratchDir {
 public:
  ScratchDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "facet-st-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// 8-byte little-endian length + `header` + `data`.
inline std::string st_image_with_length(uint64_t header_len, const std::string& header,
                                        const std::string& data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header_len >> (8 * i)) & 0xff));
  return out + header + data;
}

inline std::string st_image(const std::string& header, const std::string& data) {
  return st_image_with_length(header.size(), header, data);
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// Runs `action`, which must throw facet::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& action,
                         std::initializer_list<std::string> parts) {
  try {
    action();
  } catch (const Error& e) {
    std::string message = e.what();
    for (const auto& part : parts)
      EXPECT_NE(message.find(part), std::string::npos)
          << "message \"" << message << "\" lacks \"" << part << "\"";
    return;
  }
  ADD_FAILURE() << "expected facet::Error";
}

}  // namespace facet::test
