#include "simd.h"

#include <cmath>
#include <limits>

#include "tensor.h"

namespace lm::simd {

const char* backend_name() {
#if LM_SIMD_WASM
  return "wasm-simd128";
#elif LM_SIMD_AVX2
  return "avx2";
#elif LM_SIMD_SSE2
  return "sse2";
#else
  return "scalar";
#endif
}

#if LM_SIMD_SCALAR || LM_SIMD_SSE2
float f16_lane(uint16_t h) { return f16_to_f32(h); }
#endif

// Cephes expf: exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln(2)/2, with
// ln 2 split in two so r is exact, and a degree-6 polynomial for exp(r).
float exp(float x) {
  if (x != x) return x;
  if (x > 88.3762626647949f) return std::numeric_limits<float>::infinity();
  if (x < -87.3365447504f) return 0.0f;
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r2 + r + 1.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return y * scale;
}

}  // namespace lm::simd
