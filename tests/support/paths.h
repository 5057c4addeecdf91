// Where tests find the shared golden data and the built `facet` binary.
#pragma once

#include <string>

namespace facet::test {

inline std::string shared_dir() { return FACET_SHARED_DIR; }
inline std::string data_dir() { return std::string(FACET_SHARED_DIR) + "/data"; }
inline std::string facet_bin() { return FACET_BIN; }
inline std::string source_dir() { return FACET_SOURCE_DIR; }

}  // namespace facet::test
