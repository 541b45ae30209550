// Machine figures measured where the engine runs (natively or in WebAssembly),
// so benchmarks can state each speed as a fraction of what the hardware allows.
#pragma once

#include <cstddef>

namespace lm {

struct MachineFigures {
  double read_bandwidth_gb_s = 0;  // one thread streaming a buffer much larger than the caches
  double simd_gflop_s = 0;         // one thread of independent SIMD multiplies and adds (2 flops per lane)
};

// Takes about `budget_ms` (split between the two measurements); allocates
// `buffer_bytes` for the bandwidth test (default 256 MB: past any L3).
MachineFigures measure_machine(double budget_ms = 600, size_t buffer_bytes = size_t{256} << 20);

}  // namespace lm
