// simd.h: the one place that knows about instruction sets.
//
// V8 is eight f32 lanes: one __m256 with AVX2, two 128-bit registers with wasm
// SIMD128 or SSE2, a float[8] in the scalar build (LM_SIMD=0). Kernels in
// ops.cpp are written once against V8. Every backend performs the same IEEE
// operations in the same order (no fused multiply-add, one fixed horizontal
// reduction order), so a kernel gives bit-identical results natively, in
// WebAssembly and in the scalar build; that is what lets a seeded generation
// produce the same tokens everywhere.
#pragma once

#include <cstdint>
#include <cstring>

#if LM_SIMD && defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define LM_SIMD_WASM 1
#elif LM_SIMD && defined(__AVX2__)
#include <immintrin.h>
#define LM_SIMD_AVX2 1
#elif LM_SIMD && defined(__SSE2__)
#include <emmintrin.h>
#define LM_SIMD_SSE2 1
#else
#define LM_SIMD_SCALAR 1
#endif

namespace lm::simd {

// Name of the backend compiled in: "wasm-simd128", "avx2", "sse2" or "scalar".
const char* backend_name();

#if LM_SIMD_WASM
struct V8 {
  v128_t lo, hi;
};
inline V8 zero() { return {wasm_f32x4_splat(0.f), wasm_f32x4_splat(0.f)}; }
inline V8 set1(float x) { return {wasm_f32x4_splat(x), wasm_f32x4_splat(x)}; }
inline V8 load(const float* p) { return {wasm_v128_load(p), wasm_v128_load(p + 4)}; }
inline void store(float* p, V8 a) {
  wasm_v128_store(p, a.lo);
  wasm_v128_store(p + 4, a.hi);
}
inline V8 add(V8 a, V8 b) { return {wasm_f32x4_add(a.lo, b.lo), wasm_f32x4_add(a.hi, b.hi)}; }
inline V8 sub(V8 a, V8 b) { return {wasm_f32x4_sub(a.lo, b.lo), wasm_f32x4_sub(a.hi, b.hi)}; }
inline V8 mul(V8 a, V8 b) { return {wasm_f32x4_mul(a.lo, b.lo), wasm_f32x4_mul(a.hi, b.hi)}; }
inline V8 max(V8 a, V8 b) { return {wasm_f32x4_pmax(a.lo, b.lo), wasm_f32x4_pmax(a.hi, b.hi)}; }
inline V8 div(V8 a, V8 b) { return {wasm_f32x4_div(a.lo, b.lo), wasm_f32x4_div(a.hi, b.hi)}; }
// exp on four lanes, the same operations as the scalar lm::simd::exp (see there).
inline v128_t exp4(v128_t x) {
  const v128_t xc = wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_splat(-87.3365447504f)), wasm_f32x4_splat(88.3762626647949f));
  const v128_t n = wasm_f32x4_floor(wasm_f32x4_add(wasm_f32x4_mul(xc, wasm_f32x4_splat(1.44269504088896341f)), wasm_f32x4_splat(0.5f)));
  v128_t r = wasm_f32x4_sub(xc, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  const v128_t r2 = wasm_f32x4_mul(r, r);
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  const v128_t y = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(p, r2), r), wasm_f32x4_splat(1.0f));
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  v128_t out = wasm_f32x4_mul(y, scale);
  out = wasm_v128_bitselect(wasm_f32x4_splat(__builtin_inff()), out, wasm_f32x4_gt(x, wasm_f32x4_splat(88.3762626647949f)));
  out = wasm_v128_bitselect(wasm_f32x4_splat(0.0f), out, wasm_f32x4_lt(x, wasm_f32x4_splat(-87.3365447504f)));
  return wasm_v128_bitselect(x, out, wasm_f32x4_ne(x, x));  // NaN stays NaN
}
inline V8 exp(V8 x) { return {exp4(x.lo), exp4(x.hi)}; }
// (a0+a4 + a2+a6) + (a1+a5 + a3+a7), the order every backend uses.
inline float reduce_add(V8 a) {
  const v128_t t = wasm_f32x4_add(a.lo, a.hi);
  const v128_t u = wasm_f32x4_add(t, wasm_i32x4_shuffle(t, t, 2, 3, 2, 3));
  return wasm_f32x4_extract_lane(u, 0) + wasm_f32x4_extract_lane(u, 1);
}
inline V8 load_bf16_eo(const uint16_t* p) {
  const v128_t h = wasm_v128_load(p);  // 32-bit lane i = p[2i] | p[2i+1] << 16
  return {wasm_i32x4_shl(h, 16), wasm_v128_and(h, wasm_i32x4_splat(static_cast<int32_t>(0xffff0000u)))};
}
// 4 lanes of integer partial sums (see dot32_q8).
struct I4 {
  v128_t v;
};
// 32 int8 weights widened to int16, to be used against several activation rows.
struct Q32 {
  v128_t w[4];
};
inline Q32 widen32(const int8_t* w) {
  const v128_t w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 16);
  return {{wasm_i16x8_extend_low_i8x16(w0), wasm_i16x8_extend_high_i8x16(w0), wasm_i16x8_extend_low_i8x16(w1),
           wasm_i16x8_extend_high_i8x16(w1)}};
}
inline I4 dot32(const Q32& w, const int16_t* x) {
  v128_t s = wasm_i32x4_dot_i16x8(w.w[0], wasm_v128_load(x));
  s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(w.w[1], wasm_v128_load(x + 8)));
  s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(w.w[2], wasm_v128_load(x + 16)));
  s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(w.w[3], wasm_v128_load(x + 24)));
  return {s};
}
struct F4 {
  v128_t v;
};
inline F4 f4_zero() { return {wasm_f32x4_splat(0.0f)}; }
inline F4 f4_add_scaled(F4 acc, I4 s, float scale) {
  return {wasm_f32x4_add(acc.v, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s.v), wasm_f32x4_splat(scale)))};
}
inline float f4_reduce(F4 a) {
  const v128_t u = wasm_f32x4_add(a.v, wasm_i32x4_shuffle(a.v, a.v, 2, 3, 2, 3));
  return wasm_f32x4_extract_lane(u, 0) + wasm_f32x4_extract_lane(u, 1);
}
// IEEE half -> float, exact: shift the exponent+mantissa into place and scale
// by 2^112 (this also rescales subnormals); inf/NaN get the all-ones exponent.
inline v128_t f16x4_to_f32(v128_t h32) {
  const v128_t sign = wasm_i32x4_shl(wasm_v128_and(h32, wasm_i32x4_splat(0x8000)), 16);
  const v128_t em = wasm_v128_and(h32, wasm_i32x4_splat(0x7fff));
  const v128_t scaled = wasm_f32x4_mul(wasm_i32x4_shl(em, 13), wasm_f32x4_splat(0x1p112f));
  const v128_t is_special = wasm_i32x4_ge(em, wasm_i32x4_splat(0x7c00));
  const v128_t special = wasm_v128_or(wasm_i32x4_shl(em, 13), wasm_i32x4_splat(0x7f800000));
  return wasm_v128_or(sign, wasm_v128_bitselect(special, scaled, is_special));
}
inline V8 load_f16(const uint16_t* p) {
  const v128_t h = wasm_v128_load(p);
  return {f16x4_to_f32(wasm_u32x4_extend_low_u16x8(h)), f16x4_to_f32(wasm_u32x4_extend_high_u16x8(h))};
}

#elif LM_SIMD_AVX2
struct V8 {
  __m256 v;
};
inline V8 zero() { return {_mm256_setzero_ps()}; }
inline V8 set1(float x) { return {_mm256_set1_ps(x)}; }
inline V8 load(const float* p) { return {_mm256_loadu_ps(p)}; }
inline void store(float* p, V8 a) { _mm256_storeu_ps(p, a.v); }
inline V8 add(V8 a, V8 b) { return {_mm256_add_ps(a.v, b.v)}; }
inline V8 sub(V8 a, V8 b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline V8 mul(V8 a, V8 b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline V8 max(V8 a, V8 b) { return {_mm256_max_ps(a.v, b.v)}; }
inline V8 div(V8 a, V8 b) { return {_mm256_div_ps(a.v, b.v)}; }
// exp on eight lanes, the same operations as the scalar lm::simd::exp (see there).
inline V8 exp(V8 v) {
  const __m256 x = v.v;
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3365447504f)), _mm256_set1_ps(88.3762626647949f));
  const __m256 n = _mm256_floor_ps(_mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_sub_ps(xc, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
  r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
  const __m256 r2 = _mm256_mul_ps(r, r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, r2), r), _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 out = _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
  out = _mm256_blendv_ps(out, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x, _mm256_set1_ps(88.3762626647949f), _CMP_GT_OQ));
  out = _mm256_blendv_ps(out, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(-87.3365447504f), _CMP_LT_OQ));
  return {_mm256_blendv_ps(out, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q))};
}
inline float reduce_add(V8 a) {
  const __m128 t = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  const __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));
  return _mm_cvtss_f32(u) + _mm_cvtss_f32(_mm_shuffle_ps(u, u, 1));
}
inline V8 load_bf16_eo(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128 even = _mm_castsi128_ps(_mm_slli_epi32(h, 16));
  const __m128 odd = _mm_castsi128_ps(_mm_and_si128(h, _mm_set1_epi32(static_cast<int32_t>(0xffff0000u))));
  return {_mm256_insertf128_ps(_mm256_castps128_ps256(even), odd, 1)};
}
struct I4 {
  __m128i v;
};
// The same four lanes as the wasm version: 256-bit madd gives lanes for
// elements (2i, 2i+1) and (8+2i, 8+2i+1); folding the halves is exact in integers.
struct Q32 {
  __m256i w[2];
};
inline Q32 widen32(const int8_t* w) {
  return {{_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w))),
           _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 16)))}};
}
inline I4 dot32(const Q32& w, const int16_t* x) {
  const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(w.w[0], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))),
                                     _mm256_madd_epi16(w.w[1], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16))));
  return {_mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1))};
}
struct F4 {
  __m128 v;
};
inline F4 f4_zero() { return {_mm_setzero_ps()}; }
inline F4 f4_add_scaled(F4 acc, I4 s, float scale) {
  return {_mm_add_ps(acc.v, _mm_mul_ps(_mm_cvtepi32_ps(s.v), _mm_set1_ps(scale)))};
}
inline float f4_reduce(F4 a) {
  const __m128 u = _mm_add_ps(a.v, _mm_movehl_ps(a.v, a.v));
  return _mm_cvtss_f32(u) + _mm_cvtss_f32(_mm_shuffle_ps(u, u, 1));
}
inline V8 load_f16(const uint16_t* p) {
#if defined(__F16C__)
  return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))};
#else
  const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x8000)), 16);
  const __m256i em = _mm256_and_si256(h, _mm256_set1_epi32(0x7fff));
  const __m256 scaled = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(em, 13)), _mm256_set1_ps(0x1p112f));
  const __m256i is_special = _mm256_cmpgt_epi32(em, _mm256_set1_epi32(0x7bff));
  const __m256i special = _mm256_or_si256(_mm256_slli_epi32(em, 13), _mm256_set1_epi32(0x7f800000));
  const __m256i v = _mm256_blendv_epi8(_mm256_castps_si256(scaled), special, is_special);
  return {_mm256_castsi256_ps(_mm256_or_si256(sign, v))};
#endif
}

#elif LM_SIMD_SSE2
struct V8 {
  __m128 lo, hi;
};
inline V8 zero() { return {_mm_setzero_ps(), _mm_setzero_ps()}; }
inline V8 set1(float x) { return {_mm_set1_ps(x), _mm_set1_ps(x)}; }
inline V8 load(const float* p) { return {_mm_loadu_ps(p), _mm_loadu_ps(p + 4)}; }
inline void store(float* p, V8 a) {
  _mm_storeu_ps(p, a.lo);
  _mm_storeu_ps(p + 4, a.hi);
}
inline V8 add(V8 a, V8 b) { return {_mm_add_ps(a.lo, b.lo), _mm_add_ps(a.hi, b.hi)}; }
inline V8 sub(V8 a, V8 b) { return {_mm_sub_ps(a.lo, b.lo), _mm_sub_ps(a.hi, b.hi)}; }
inline V8 mul(V8 a, V8 b) { return {_mm_mul_ps(a.lo, b.lo), _mm_mul_ps(a.hi, b.hi)}; }
inline V8 max(V8 a, V8 b) { return {_mm_max_ps(a.lo, b.lo), _mm_max_ps(a.hi, b.hi)}; }
inline V8 div(V8 a, V8 b) { return {_mm_div_ps(a.lo, b.lo), _mm_div_ps(a.hi, b.hi)}; }
inline float reduce_add(V8 a) {
  const __m128 t = _mm_add_ps(a.lo, a.hi);
  const __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));
  return _mm_cvtss_f32(u) + _mm_cvtss_f32(_mm_shuffle_ps(u, u, 1));
}
inline V8 load_bf16_eo(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return {_mm_castsi128_ps(_mm_slli_epi32(h, 16)),
          _mm_castsi128_ps(_mm_and_si128(h, _mm_set1_epi32(static_cast<int32_t>(0xffff0000u))))};
}
#endif

#if LM_SIMD_SCALAR || LM_SIMD_SSE2
#if LM_SIMD_SCALAR
struct V8 {
  float v[8];
};
inline V8 zero() { return V8{}; }
inline V8 set1(float x) { return {{x, x, x, x, x, x, x, x}}; }
inline V8 load(const float* p) {
  V8 r;
  std::memcpy(r.v, p, sizeof r.v);
  return r;
}
inline void store(float* p, V8 a) { std::memcpy(p, a.v, sizeof a.v); }
#define LM_V8_LANEWISE(name, expr)  \
  inline V8 name(V8 a, V8 b) {      \
    V8 r;                           \
    for (int i = 0; i < 8; ++i) {   \
      const float x = a.v[i];       \
      const float y = b.v[i];       \
      r.v[i] = (expr);              \
    }                               \
    return r;                       \
  }
LM_V8_LANEWISE(add, x + y)
LM_V8_LANEWISE(sub, x - y)
LM_V8_LANEWISE(mul, x* y)
LM_V8_LANEWISE(max, x < y ? y : x)
LM_V8_LANEWISE(div, x / y)
#undef LM_V8_LANEWISE
inline float reduce_add(V8 a) {
  const float t0 = a.v[0] + a.v[4], t1 = a.v[1] + a.v[5], t2 = a.v[2] + a.v[6], t3 = a.v[3] + a.v[7];
  return (t0 + t2) + (t1 + t3);
}
inline V8 load_bf16_eo(const uint16_t* p) {
  V8 r;
  for (int i = 0; i < 8; ++i) {
    const uint32_t u = uint32_t{p[i < 4 ? 2 * i : 2 * (i - 4) + 1]} << 16;
    std::memcpy(&r.v[i], &u, 4);
  }
  return r;
}
#endif
float f16_lane(uint16_t h);  // tensor.cpp's exact conversion, for the backends without a vector one
inline V8 load_f16(const uint16_t* p) {
  alignas(16) float f[8];
  for (int i = 0; i < 8; ++i) f[i] = f16_lane(p[i]);
  return load(f);
}
#endif

#if LM_SIMD_SCALAR || LM_SIMD_SSE2
// Integer partial sums in the canonical lane order: lane i sums the products
// of elements 2i and 2i+1 of each run of eight.
struct I4 {
  int32_t v[4];
};
struct Q32 {
  int16_t w[32];
};
inline Q32 widen32(const int8_t* w) {
  Q32 q;
  for (int k = 0; k < 32; ++k) q.w[k] = w[k];
  return q;
}
inline I4 dot32(const Q32& w, const int16_t* x) {
  I4 s{};
  for (int k = 0; k < 32; ++k) s.v[(k % 8) / 2] += int32_t{w.w[k]} * int32_t{x[k]};
  return s;
}
struct F4 {
  float v[4];
};
inline F4 f4_zero() { return F4{}; }
inline F4 f4_add_scaled(F4 acc, I4 s, float scale) {
  for (int i = 0; i < 4; ++i) acc.v[i] = acc.v[i] + static_cast<float>(s.v[i]) * scale;
  return acc;
}
inline float f4_reduce(F4 a) { return (a.v[0] + a.v[2]) + (a.v[1] + a.v[3]); }

float exp(float x);
inline V8 exp(V8 x) {
  alignas(16) float f[8];
  store(f, x);
  for (float& v : f) v = exp(v);
  return load(f);
}
#endif

// 4 lanes of exact integer partial sums of 32 int8 x int16 products; lane i
// sums the products of elements 2i and 2i+1 of each run of eight (the order
// of wasm's i32x4.dot_i16x8), the same on every backend.
inline I4 dot32_q8(const int8_t* w, const int16_t* x) { return dot32(widen32(w), x); }

// Reorders each full run of eight floats to the even/odd lane order of
// load_bf16_eo (0,2,4,6,1,3,5,7); a ragged tail is copied as it is.
inline void permute_even_odd(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 4; ++j) {
      out[i + j] = x[i + 2 * j];
      out[i + 4 + j] = x[i + 2 * j + 1];
    }
  for (; i < n; ++i) out[i] = x[i];
}

// exp(x) for f32, the same bits on every backend (libm's expf differs between
// glibc and Emscripten's musl, which would make sampling platform-dependent).
// Max error about 2 ulp over the range used here; x <= -87.3 gives 0.
float exp(float x);

}  // namespace lm::simd
