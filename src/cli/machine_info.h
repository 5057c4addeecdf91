// The machine and the build a benchmark ran on, so numbers quoted later can be traced
// (llama-bench prints the same facts).
#pragma once

#include <string>

namespace facet::cli {

struct MachineInfo {
  std::string cpu_model;   // /proc/cpuinfo "model name", or "unknown CPU"
  int hardware_threads = 0;
  std::string simd_target;  // what Highway dispatched to on this CPU, e.g. "AVX3_ZEN4"
};

struct BuildInfo {
  std::string compiler;     // e.g. "GCC 14.2.0"
  std::string build_type;   // CMAKE_BUILD_TYPE at configure time
  std::string git_commit;   // short hash at configure time, or "unknown"
};

MachineInfo machine_info();
BuildInfo build_info();

}  // namespace facet::cli
