// The memory read bandwidth of this machine, measured the way a memory-bound decode step
// reads its weights: every thread streams its own contiguous share of a buffer far larger
// than the caches. `facet bench --bandwidth` prints it, so a generation speed can be set
// against the limit the memory puts on it (bytes read per token / bandwidth).
#pragma once

#include <cstddef>

namespace facet {

class ThreadPool;

// Bytes per second, the best of `repetitions` sweeps over a `bytes`-sized buffer (touched
// once first, so no page faults are timed).
double measure_read_bandwidth(ThreadPool& pool, size_t bytes = size_t{1} << 30, int repetitions = 5);

}  // namespace facet
