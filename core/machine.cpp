#include "machine.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "simd.h"

namespace lm {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Sums the buffer as kStreams far-apart sequential streams read together,
// one accumulator each: the loads, not the adds, limit it. One core reading
// a single stream gets well under the memory's bandwidth (its prefetchers
// keep too few lines in flight); several streams, as decode reads weight
// rows (ops.cpp), get the bandwidth that decode can actually use.
constexpr int kStreams = 6;
// Floats of an n-float buffer each stream reads (a multiple of 8).
size_t stream_length(size_t n) { return n / kStreams / 8 * 8; }
float stream_sum(const float* p, size_t n) {
  const size_t part = stream_length(n);
  simd::V8 acc[kStreams];
  for (auto& a : acc) a = simd::zero();
  for (size_t i = 0; i < part; i += 8)
    for (int s = 0; s < kStreams; ++s) acc[s] = simd::add(acc[s], simd::load(p + s * part + i));
  simd::V8 total = acc[0];
  for (int s = 1; s < kStreams; ++s) total = simd::add(total, acc[s]);
  return simd::reduce_add(total);
}

// Independent multiply-add chains on registers: peak arithmetic, no memory.
// Six V8 chains (twelve 128-bit registers in wasm) hide the latency without spilling.
constexpr int kChains = 6;
float mul_add_chains(long iterations, float seed) {
  const simd::V8 m = simd::set1(0.999999f), k = simd::set1(1e-7f);
  simd::V8 r[kChains];
  for (int j = 0; j < kChains; ++j) r[j] = simd::set1(seed + static_cast<float>(j));
  for (long i = 0; i < iterations; ++i)
    for (int j = 0; j < kChains; ++j) r[j] = simd::add(simd::mul(r[j], m), k);
  simd::V8 s = r[0];
  for (int j = 1; j < kChains; ++j) s = simd::add(s, r[j]);
  return simd::reduce_add(s);
}

volatile float sink;

}  // namespace

MachineFigures measure_machine(double budget_ms, size_t buffer_bytes) {
  MachineFigures f;
  const size_t n = buffer_bytes / sizeof(float);
  std::unique_ptr<float[]> buffer(new float[n]);
  std::fill_n(buffer.get(), n, 1.0f);  // touch every page before timing
  double best = 0;
  const auto start = Clock::now();
  do {
    const auto t = Clock::now();
    sink = stream_sum(buffer.get(), n);
    const double bytes_read = static_cast<double>(stream_length(n) * kStreams * sizeof(float));
    best = std::max(best, bytes_read / seconds_since(t) / 1e9);
  } while (seconds_since(start) * 1000 < budget_ms / 2);
  f.read_bandwidth_gb_s = best;

  best = 0;
  const long iterations = 2'000'000;
  const auto start2 = Clock::now();
  do {
    const auto t = Clock::now();
    sink = mul_add_chains(iterations, sink);
    // kChains x 8 lanes x (1 mul + 1 add) per iteration.
    best = std::max(best, 16.0 * kChains * static_cast<double>(iterations) / seconds_since(t) / 1e9);
  } while (seconds_since(start2) * 1000 < budget_ms / 2);
  f.simd_gflop_s = best;
  return f;
}

}  // namespace lm
