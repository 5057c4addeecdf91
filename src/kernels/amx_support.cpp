#include "kernels/amx_support.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace facet {
namespace {

// The Linux request for a dynamically enabled XSAVE feature, and AMX's tile-data feature
// number (arch/x86/include/uapi/asm/prctl.h, xfeature XTILEDATA).
constexpr int kArchReqXcompPerm = 0x1023;
constexpr int kXfeatureXtiledata = 18;

bool detect() {
#if defined(__x86_64__) && defined(__linux__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool tile = (edx >> 24) & 1, int8 = (edx >> 25) & 1;
  if (!tile || !int8) return false;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

bool enabled_by_environment() {
  const char* env = std::getenv("FACET_AMX");
  return env != nullptr && std::strcmp(env, "1") == 0;
}

std::atomic<bool> enabled{enabled_by_environment()};

}  // namespace

bool amx_int8_available() {
  static const bool usable = detect();
  return usable;
}

bool amx_int8_in_use() { return enabled.load(std::memory_order_relaxed) && amx_int8_available(); }

void set_amx_enabled_for_test(bool on) { enabled.store(on, std::memory_order_relaxed); }

}  // namespace facet
