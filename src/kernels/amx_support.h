// Intel AMX (Advanced Matrix Extensions, Sapphire Rapids and later Xeons): whether the
// prompt kernels may use its int8 tile multiply (matmul_quant_amx-inl.h).
//
// Opt-in (FACET_AMX=1): on the one AMX machine measured so far (a 2-core KVM guest on an
// Emerald Rapids Xeon) the tile kernels beat the AVX-512 VNNI prompt kernels on one thread
// (E2B Q4_0 6144x1536, 512 tokens: 38 ms against 46) but not on two, and a whole 512-token
// prompt ran 4-8 % slower; see the README's performance section.
#pragma once

namespace facet {

// The CPU has AMX-TILE and AMX-INT8 and Linux granted this process the tile state
// (arch_prctl ARCH_REQ_XCOMP_PERM; without it the first tile instruction kills the process).
// The first call asks; later calls only read the answer.
bool amx_int8_available();

// amx_int8_available() and switched on: by FACET_AMX=1 in the environment, or by tests.
bool amx_int8_in_use();

// Tests run the AVX-512 VNNI target with and without AMX (both must give the same bits).
void set_amx_enabled_for_test(bool enabled);

}  // namespace facet
