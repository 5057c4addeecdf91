// The instruction sets the SIMD kernels are compiled for; included first by every
// foreach_target kernel file so they all dispatch over the same list. Fewer targets keep the
// build fast on small machines: AVX-512 (with and without VNNI) and AVX2 for speed, plus the
// always-present portable baseline for anything older.
#pragma once

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
// AVX3_DL (Ice Lake and later, Zen 4) brings AVX-512 VNNI byte dot products.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
