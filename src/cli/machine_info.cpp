#include "cli/machine_info.h"

#include <fstream>
#include <thread>

#include "kernels/amx_support.h"
#include "kernels/matmul_simd.h"

// Set for this file only by CMakeLists.txt (so a new commit recompiles one file).
#ifndef FACET_GIT_COMMIT
#define FACET_GIT_COMMIT ""
#endif
#ifndef FACET_BUILD_TYPE
#define FACET_BUILD_TYPE ""
#endif

namespace facet::cli {

MachineInfo machine_info() {
  MachineInfo m;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon != std::string::npos) m.cpu_model = line.substr(line.find_first_not_of(" \t", colon + 1));
    break;
  }
  if (m.cpu_model.empty()) m.cpu_model = "unknown CPU";
  m.hardware_threads = static_cast<int>(std::thread::hardware_concurrency());
  m.simd_target = matmul_simd_target();
  // The AVX-512 VNNI target hands prompts to AMX tiles where the CPU has them.
  if (m.simd_target == "AVX3_DL" && amx_int8_in_use()) m.simd_target += "+AMX";
  return m;
}

BuildInfo build_info() {
  BuildInfo b;
#if defined(__clang__)
  b.compiler = "Clang " __clang_version__;
#elif defined(__GNUC__)
  b.compiler = "GCC " __VERSION__;
#else
  b.compiler = "unknown compiler";
#endif
  while (!b.compiler.empty() && b.compiler.back() == ' ') b.compiler.pop_back();
  b.build_type = *FACET_BUILD_TYPE ? FACET_BUILD_TYPE : "unknown";
  b.git_commit = *FACET_GIT_COMMIT ? FACET_GIT_COMMIT : "unknown";
  return b;
}

}  // namespace facet::cli
