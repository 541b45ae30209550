#include "ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "error.h"
#include "simd.h"
#include "thread_pool.h"

namespace lm {

using simd::V8;

namespace {

// ------------------------------------------------------ weight loading ---
// load8(p, k): eight consecutive weights starting at column k, as f32.
// scalar(p, k): one weight, as f32.
//
// kDecodeRows: how many rows decode reads at once (see store_rows), as many
// as fit the registers beside the conversion's temporaries.
struct F32Row {
  static constexpr int kDecodeRows = 6;
  const float* p;
  V8 load8(int64_t k) const { return simd::load(p + k); }
  float scalar(int64_t k) const { return p[k]; }
};
// bf16 rows load in even/odd lane order (two integer ops per eight values);
// matmul_bt permutes the activations the same way first.
struct BF16Row {
  static constexpr int kDecodeRows = 6;
  const uint16_t* p;
  V8 load8(int64_t k) const { return simd::load_bf16_eo(p + k); }
  float scalar(int64_t k) const { return bf16_to_f32(p[k]); }
};
struct F16Row {
  static constexpr int kDecodeRows = 4;
  const uint16_t* p;
  V8 load8(int64_t k) const { return simd::load_f16(p + k); }
  float scalar(int64_t k) const { return f16_to_f32(p[k]); }
};

template <class Row>
Row row_of(const WeightRef& w, int64_t r);
template <>
F32Row row_of<F32Row>(const WeightRef& w, int64_t r) {
  return {static_cast<const float*>(w.data) + r * w.cols()};
}
template <>
BF16Row row_of<BF16Row>(const WeightRef& w, int64_t r) {
  return {static_cast<const uint16_t*>(w.data) + r * w.cols()};
}
template <>
F16Row row_of<F16Row>(const WeightRef& w, int64_t r) {
  return {static_cast<const uint16_t*>(w.data) + r * w.cols()};
}

// c = alpha * s + beta * c, where beta = 0 ignores what c held (it may be garbage).
inline void store_scaled(float& c, float s, float alpha, float beta) { c = beta == 0.0f ? alpha * s : alpha * s + beta * c; }

// --------------------------------------------------------- matmul tile ---
// C[i][j] for MR rows of A and NR rows of B. Each dot product accumulates
// columns k < K8 (a multiple of 8) in 8 lanes, reduces them in simd.h's fixed
// order, then adds the ragged tail summed left to right. That order does not
// depend on MR / NR, so tiling never changes a result.
template <int MR, int NR, class Row>
inline void tile(float* C, int ldc, const float* A, int lda, const Row (&b)[NR], int64_t K, float alpha,
                 float beta) {
  V8 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = simd::zero();
  const int64_t K8 = K & ~int64_t{7};
  for (int64_t k = 0; k < K8; k += 8) {
    V8 w[NR];
    for (int j = 0; j < NR; ++j) w[j] = b[j].load8(k);
    for (int i = 0; i < MR; ++i) {
      const V8 a = simd::load(A + i * lda + k);
      for (int j = 0; j < NR; ++j) acc[i][j] = simd::add(acc[i][j], simd::mul(a, w[j]));
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) {
      float tail = 0.0f;
      for (int64_t k = K8; k < K; ++k) tail += A[i * lda + k] * b[j].scalar(k);
      store_scaled(C[i * ldc + j], simd::reduce_add(acc[i][j]) + tail, alpha, beta);
    }
  }
}

// One row of A against one row of B. The same arithmetic as tile<1, 1> and
// dot_rows (one accumulator, so a row gets the same bits alone or in a
// batch, in prefill or in decode), unrolled by four to cut loop overhead.
template <class Row>
inline float dot_row(const float* a, const Row& b, int64_t K) {
  V8 acc = simd::zero();
  const int64_t K8 = K & ~int64_t{7};
  int64_t k = 0;
  for (; k + 32 <= K8; k += 32) {
    acc = simd::add(acc, simd::mul(simd::load(a + k), b.load8(k)));
    acc = simd::add(acc, simd::mul(simd::load(a + k + 8), b.load8(k + 8)));
    acc = simd::add(acc, simd::mul(simd::load(a + k + 16), b.load8(k + 16)));
    acc = simd::add(acc, simd::mul(simd::load(a + k + 24), b.load8(k + 24)));
  }
  for (; k < K8; k += 8) acc = simd::add(acc, simd::mul(simd::load(a + k), b.load8(k)));
  float tail = 0.0f;
  for (k = K8; k < K; ++k) tail += a[k] * b.scalar(k);
  return simd::reduce_add(acc) + tail;
}

// Tile shapes: enough accumulators to hide add latency without spilling.
// V8 is two registers on wasm/SSE (16 in all), one on AVX2. Measured for a
// 128-token prefill of the 86 M model in V8/Node: 3x1 reaches 29.6 GFLOP/s,
// 2x1 27.9, 4x1 27.0, 2x2 22.8 (it spills two accumulators to the stack).
#if LM_SIMD_AVX2
constexpr int kMR = 4, kNR = 2;
#else
constexpr int kMR = 3, kNR = 1;
#endif

// R rows of B against one row of A: the decode loop. Each row keeps its own
// accumulator and adds in dot_row's order, so a row's bits do not depend on R.
template <int R, class Row>
inline void dot_rows(const float* a, const Row (&b)[R], int64_t K, float (&out)[R]) {
  V8 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = simd::zero();
  const int64_t K8 = K & ~int64_t{7};
  for (int64_t k = 0; k < K8; k += 8) {
    const V8 x = simd::load(a + k);
    for (int r = 0; r < R; ++r) acc[r] = simd::add(acc[r], simd::mul(x, b[r].load8(k)));
  }
  for (int r = 0; r < R; ++r) {
    float tail = 0.0f;
    for (int64_t k = K8; k < K; ++k) tail += a[k] * b[r].scalar(k);
    out[r] = simd::reduce_add(acc[r]) + tail;
  }
}

// Decode visits the rows [j0, j1) as R far-apart streams: rows j, j + n/R,
// j + 2n/R, ... together (n = j1 - j0; the last n % R rows one at a time).
// One core reading one sequential stream gets well under the memory's
// bandwidth (the prefetchers run out of lines in flight); R streams in
// different pages get far more: for the 86 M model in V8 measured 1.2x
// (f32) and 2x (bf16) the speed of one stream.
//
// for_spread_rows calls group(rows) with each set of R far-apart rows,
// rows[r] = j0 + g + r * (n / R), then one(j) for each of the last n % R rows.
template <int R, class Group, class One>
inline void for_spread_rows(int64_t j0, int64_t j1, Group group, One one) {
  const int64_t groups = (j1 - j0) / R;
  for (int64_t g = 0; g < groups; ++g) {
    int64_t rows[R];
    for (int r = 0; r < R; ++r) rows[r] = j0 + g + r * groups;
    group(rows);
  }
  for (int64_t j = j0 + groups * R; j < j1; ++j) one(j);
}

// C[j] for j in [j0, j1): one row of A against B's rows.
template <class Row>
void store_rows(float* C, const float* A, const WeightRef& B, int64_t j0, int64_t j1, float alpha, float beta,
                int64_t K) {
  constexpr int R = Row::kDecodeRows;
  for_spread_rows<R>(
      j0, j1,
      [&](const int64_t (&rows)[R]) {
        Row b[R];
        float s[R];
        for (int r = 0; r < R; ++r) b[r] = row_of<Row>(B, rows[r]);
        dot_rows(A, b, K, s);
        for (int r = 0; r < R; ++r) store_scaled(C[rows[r]], s[r], alpha, beta);
      },
      [&](int64_t j) { store_scaled(C[j], dot_row(A, row_of<Row>(B, j), K), alpha, beta); });
}

template <int NR, class Row>
inline void rows_of(const WeightRef& B, int64_t j, Row (&b)[NR]) {
  for (int t = 0; t < NR; ++t) b[t] = row_of<Row>(B, j + t);
}

// Columns [n0, n1) of C for all M rows.
template <class Row>
void matmul_range(float* C, int ldc, const float* A, int lda, const WeightRef& B, int M, int64_t n0, int64_t n1,
                  float alpha, float beta) {
  const int64_t K = B.cols();
  if (M == 1) return store_rows<Row>(C, A, B, n0, n1, alpha, beta, K);
  // Blocks of B rows small enough to stay in L2 while every row of A passes over them.
  const int64_t row_bytes = K * static_cast<int64_t>(dtype_size(B.dtype));
  const int64_t block = std::max<int64_t>(kNR, (int64_t{128} * 1024 / std::max<int64_t>(row_bytes, 1)) / kNR * kNR);
  for (int64_t jb = n0; jb < n1; jb += block) {
    const int64_t je = std::min(n1, jb + block);
    int i = 0;
    for (; i + kMR <= M; i += kMR) {
      int64_t j = jb;
      for (; j + kNR <= je; j += kNR) {
        Row b[kNR];
        rows_of(B, j, b);
        tile<kMR, kNR>(C + i * ldc + j, ldc, A + i * lda, lda, b, K, alpha, beta);
      }
      for (; j < je; ++j) {
        Row b[1];
        rows_of(B, j, b);
        tile<kMR, 1>(C + i * ldc + j, ldc, A + i * lda, lda, b, K, alpha, beta);
      }
    }
    for (; i < M; ++i) store_rows<Row>(C + i * ldc, A + i * lda, B, jb, je, alpha, beta, K);
  }
}

// ------------------------------------------------------------------ Q8 ---
// Q8 weights meet Q8 activations: each row of A is quantized per group of
// kQ8Group values (int8 range, held as int16 for the multiply-add), every
// group's products are summed exactly in integers, and only then scaled.

// One weight row against one quantized activation row (xq, xs).
inline float q8_dot(const int8_t* row, const float* ws, const int16_t* xq, const float* xs, int64_t groups) {
  simd::F4 acc = simd::f4_zero();
  for (int64_t g = 0; g < groups; ++g)
    acc = simd::f4_add_scaled(acc, simd::dot32_q8(row + g * kQ8Group, xq + g * kQ8Group), ws[g] * xs[g]);
  return simd::f4_reduce(acc);
}

// C[j] for j in [j0, j1) from one quantized activation row (xq, xs): the
// decode loop, over kQ8DecodeRows far-apart rows at once (see for_spread_rows),
// each with q8_dot's arithmetic.
constexpr int kQ8DecodeRows = 4;
void q8_rows(float* C, const int16_t* xq, const float* xs, const WeightRef& B, int64_t j0, int64_t j1, float alpha,
             float beta) {
  constexpr int R = kQ8DecodeRows;
  const int64_t K = B.cols(), groups = K / kQ8Group;
  const auto* w = static_cast<const int8_t*>(B.data);
  for_spread_rows<R>(
      j0, j1,
      [&](const int64_t (&rows)[R]) {
        const int8_t* row[R];
        const float* ws[R];
        simd::F4 acc[R];
        for (int r = 0; r < R; ++r) {
          row[r] = w + rows[r] * K;
          ws[r] = B.scales + rows[r] * groups;
          acc[r] = simd::f4_zero();
        }
        for (int64_t g = 0; g < groups; ++g)
          for (int r = 0; r < R; ++r)
            acc[r] = simd::f4_add_scaled(acc[r], simd::dot32_q8(row[r] + g * kQ8Group, xq + g * kQ8Group), ws[r][g] * xs[g]);
        for (int r = 0; r < R; ++r) store_scaled(C[rows[r]], simd::f4_reduce(acc[r]), alpha, beta);
      },
      [&](int64_t j) { store_scaled(C[j], q8_dot(w + j * K, B.scales + j * groups, xq, xs, groups), alpha, beta); });
}

// kMR activation rows at once (prefill): each group of weights is widened
// once and used for every row. Per element the arithmetic is q8_rows'.
void q8_tile(float* C, int ldc, const int16_t* xq, const float* xs, const WeightRef& B, int64_t j0, int64_t j1,
             float alpha, float beta) {
  const int64_t K = B.cols(), groups = K / kQ8Group;
  const auto* w = static_cast<const int8_t*>(B.data);
  for (int64_t j = j0; j < j1; ++j) {
    const int8_t* row = w + j * K;
    const float* ws = B.scales + j * groups;
    simd::F4 acc[kMR];
    for (auto& a : acc) a = simd::f4_zero();
    for (int64_t g = 0; g < groups; ++g) {
      const simd::Q32 wg = simd::widen32(row + g * kQ8Group);
      for (int i = 0; i < kMR; ++i)
        acc[i] = simd::f4_add_scaled(acc[i], simd::dot32(wg, xq + i * K + g * kQ8Group), ws[g] * xs[i * groups + g]);
    }
    for (int i = 0; i < kMR; ++i) store_scaled(C[i * ldc + j], simd::f4_reduce(acc[i]), alpha, beta);
  }
}

// Columns [n0, n1) of C for all M quantized activation rows.
void q8_range(float* C, int ldc, const int16_t* aq, const float* as, const WeightRef& B, int M, int64_t n0,
              int64_t n1, float alpha, float beta) {
  const int64_t K = B.cols(), groups = K / kQ8Group;
  int i = 0;
  for (; i + kMR <= M; i += kMR) q8_tile(C + i * ldc, ldc, aq + i * K, as + i * groups, B, n0, n1, alpha, beta);
  for (; i < M; ++i) q8_rows(C + i * ldc, aq + i * K, as + i * groups, B, n0, n1, alpha, beta);
}

// Per-call scratch for transformed activations (permuted or quantized). Grows
// to the largest call once, so steady-state calls do not allocate.
template <class T>
T* scratch(size_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

void check_matmul_args(const WeightRef& B, int M) {
  if (M < 0) throw Error(ErrorKind::kInvalidArgument, "matmul: negative row count");
  if (B.dtype == DType::kQ8 && B.cols() % kQ8Group != 0)
    throw Error(ErrorKind::kInvalidArgument, "matmul: Q8 weights need a multiple of 32 columns");
}

}  // namespace

void quantize_q8(const float* x, int64_t n, int8_t* q, float* scales) {
  for (int64_t g = 0; g * kQ8Group < n; ++g) {
    const float* v = x + g * kQ8Group;
    float amax = 0.0f;
    for (int i = 0; i < kQ8Group; ++i) amax = std::max(amax, std::fabs(v[i]));
    scales[g] = amax / 127.0f;
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < kQ8Group; ++i) {
      // Finite values land in [-127, 127]. NaN (a NaN value, or inf * 0 when
      // amax is inf) would make the conversion undefined behaviour: it gives 0.
      const float r = std::nearbyint(v[i] * inv);
      q[g * kQ8Group + i] = r == r ? static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f)) : int8_t{0};
    }
  }
}

void matmul_bt(float* C, int ldc, const float* A, int lda, const WeightRef& B, int M, float alpha, float beta,
               ThreadPool* pool) {
  check_matmul_args(B, M);
  const int64_t N = B.rows(), K = B.cols();
  // Transform the activations once per call: permuted for bf16, quantized for Q8.
  const float* a = A;
  int la = lda;
  const int16_t* aq = nullptr;
  const float* as = nullptr;
  if (B.dtype == DType::kBF16) {
    float* p = scratch<float>(static_cast<size_t>(M * K));
    for (int i = 0; i < M; ++i) simd::permute_even_odd(A + i * lda, p + i * K, K);
    a = p;
    la = static_cast<int>(K);
  } else if (B.dtype == DType::kQ8) {
    const int64_t groups = K / kQ8Group;
    int16_t* q = scratch<int16_t>(static_cast<size_t>(M * K));
    float* qs = scratch<float>(static_cast<size_t>(M * groups));
    int8_t* q8 = scratch<int8_t>(static_cast<size_t>(K));
    for (int i = 0; i < M; ++i) {
      quantize_q8(A + i * lda, K, q8, qs + i * groups);
      for (int64_t k = 0; k < K; ++k) q[i * K + k] = q8[k];
    }
    aq = q;
    as = qs;
  }
  // The kernel for this dtype is called through a pointer: in WebAssembly
  // that keeps each kernel a separate, small function (binaryen would inline
  // every instantiation into one huge one), so V8 optimizes just the kernel
  // in use, and soon.
  using Range = void (*)(float*, int, const float*, int, const WeightRef&, int, int64_t, int64_t, float, float);
  Range range = nullptr;
  switch (B.dtype) {
    case DType::kF32: range = matmul_range<F32Row>; break;
    case DType::kBF16: range = matmul_range<BF16Row>; break;
    case DType::kF16: range = matmul_range<F16Row>; break;
    case DType::kQ8: break;
  }
  auto run = [&](int64_t n0, int64_t n1) {
    if (range) return range(C, ldc, a, la, B, M, n0, n1, alpha, beta);
    q8_range(C, ldc, aq, as, B, M, n0, n1, alpha, beta);
  };
  // Below ~0.5 M multiply-adds, waking the other threads costs more than it saves.
  constexpr int64_t kMinParallelWork = int64_t{1} << 19;
  if (pool && pool->size() > 1 && N * K * M >= kMinParallelWork) {
    pool->parallel_for(N, 16, run);
  } else {
    run(0, N);
  }
}

void matvec(float* y, const WeightRef& W, const float* x, ThreadPool* pool) {
  matmul_bt(y, static_cast<int>(W.rows()), x, static_cast<int>(W.cols()), W, 1, 1.0f, 0.0f, pool);
}

// ------------------------------------------------------- vector ops ---

float dot(const float* a, const float* b, int n) {
  V8 acc = simd::zero();
  int i = 0;
  for (; i + 8 <= n; i += 8) acc = simd::add(acc, simd::mul(simd::load(a + i), simd::load(b + i)));
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return simd::reduce_add(acc) + tail;
}

void axpy(float* y, float a, const float* x, int n) {
  const V8 va = simd::set1(a);
  int i = 0;
  for (; i + 8 <= n; i += 8) simd::store(y + i, simd::add(simd::load(y + i), simd::mul(va, simd::load(x + i))));
  for (; i < n; ++i) y[i] += a * x[i];
}

void add(float* y, const float* x, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) simd::store(y + i, simd::add(simd::load(y + i), simd::load(x + i)));
  for (; i < n; ++i) y[i] += x[i];
}

void rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
  const float ss = dot(x, x, n);
  const float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  const V8 vs = simd::set1(scale);
  int i = 0;
  for (; i + 8 <= n; i += 8)
    simd::store(out + i, simd::mul(simd::mul(simd::load(x + i), vs), simd::load(weight + i)));
  for (; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void rope(float* x, int n_heads, int head_dim, const float* cos, const float* sin) {
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* a = x + h * head_dim;
    float* b = a + half;
    int i = 0;
    for (; i + 8 <= half; i += 8) {
      const V8 va = simd::load(a + i), vb = simd::load(b + i);
      const V8 c = simd::load(cos + i), s = simd::load(sin + i);
      simd::store(a + i, simd::sub(simd::mul(va, c), simd::mul(vb, s)));
      simd::store(b + i, simd::add(simd::mul(vb, c), simd::mul(va, s)));
    }
    for (; i < half; ++i) {
      const float va = a[i], vb = b[i];
      a[i] = va * cos[i] - vb * sin[i];
      b[i] = vb * cos[i] + va * sin[i];
    }
  }
}

void softmax(float* x, int n) {
  if (n <= 0) return;
  float mx = x[0];
  for (int i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  const V8 vmx = simd::set1(mx);
  V8 acc = simd::zero();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const V8 e = simd::exp(simd::sub(simd::load(x + i), vmx));
    simd::store(x + i, e);
    acc = simd::add(acc, e);
  }
  float tail = 0.0f;
  for (; i < n; ++i) {
    x[i] = simd::exp(x[i] - mx);
    tail += x[i];
  }
  const float inv = 1.0f / (simd::reduce_add(acc) + tail);
  const V8 vinv = simd::set1(inv);
  for (i = 0; i + 8 <= n; i += 8) simd::store(x + i, simd::mul(simd::load(x + i), vinv));
  for (; i < n; ++i) x[i] *= inv;
}

void attention(float* out, const float* q, const float* keys_t, const float* values, int head_dim, int stride,
               int len, float scale, float* scores) {
  // Scores of eight positions at a time: each lane sums q[d] * k[d] over d in
  // order, exactly like the scalar tail, so every position gets the same bits.
  int p = 0;
  // Sixteen positions at a time: two independent add chains.
  for (; p + 16 <= len; p += 16) {
    V8 acc0 = simd::zero(), acc1 = simd::zero();
    for (int d = 0; d < head_dim; ++d) {
      const V8 qd = simd::set1(q[d]);
      const float* k = keys_t + static_cast<size_t>(d) * stride + p;
      acc0 = simd::add(acc0, simd::mul(qd, simd::load(k)));
      acc1 = simd::add(acc1, simd::mul(qd, simd::load(k + 8)));
    }
    simd::store(scores + p, simd::mul(acc0, simd::set1(scale)));
    simd::store(scores + p + 8, simd::mul(acc1, simd::set1(scale)));
  }
  for (; p + 8 <= len; p += 8) {
    V8 acc = simd::zero();
    for (int d = 0; d < head_dim; ++d)
      acc = simd::add(acc, simd::mul(simd::set1(q[d]), simd::load(keys_t + static_cast<size_t>(d) * stride + p)));
    simd::store(scores + p, simd::mul(acc, simd::set1(scale)));
  }
  for (; p < len; ++p) {
    float s = 0.0f;
    for (int d = 0; d < head_dim; ++d) s += q[d] * keys_t[static_cast<size_t>(d) * stride + p];
    scores[p] = s * scale;
  }
  softmax(scores, len);
  // out = sum_p probs[p] v_p, accumulated in registers 32 (then 16, 8, 1)
  // dimensions at a time; per element the same additions, in the same order,
  // as repeated axpy into a zeroed vector.
  const auto v_at = [&](int pos, int d) { return values + static_cast<size_t>(pos) * head_dim + d; };
  int d = 0;
  for (; d + 32 <= head_dim; d += 32) {
    V8 a0 = simd::zero(), a1 = simd::zero(), a2 = simd::zero(), a3 = simd::zero();
    for (p = 0; p < len; ++p) {
      const V8 w = simd::set1(scores[p]);
      a0 = simd::add(a0, simd::mul(w, simd::load(v_at(p, d))));
      a1 = simd::add(a1, simd::mul(w, simd::load(v_at(p, d + 8))));
      a2 = simd::add(a2, simd::mul(w, simd::load(v_at(p, d + 16))));
      a3 = simd::add(a3, simd::mul(w, simd::load(v_at(p, d + 24))));
    }
    simd::store(out + d, a0);
    simd::store(out + d + 8, a1);
    simd::store(out + d + 16, a2);
    simd::store(out + d + 24, a3);
  }
  for (; d + 16 <= head_dim; d += 16) {
    V8 a0 = simd::zero(), a1 = simd::zero();
    for (p = 0; p < len; ++p) {
      const V8 w = simd::set1(scores[p]);
      a0 = simd::add(a0, simd::mul(w, simd::load(v_at(p, d))));
      a1 = simd::add(a1, simd::mul(w, simd::load(v_at(p, d + 8))));
    }
    simd::store(out + d, a0);
    simd::store(out + d + 8, a1);
  }
  for (; d + 8 <= head_dim; d += 8) {
    V8 a = simd::zero();
    for (p = 0; p < len; ++p) a = simd::add(a, simd::mul(simd::set1(scores[p]), simd::load(v_at(p, d))));
    simd::store(out + d, a);
  }
  for (; d < head_dim; ++d) {
    float a = 0.0f;
    for (p = 0; p < len; ++p) a += scores[p] * *v_at(p, d);
    out[d] = a;
  }
}

// x * sigmoid(x) = x / (1 + exp(-x)), lane by lane.
static inline V8 silu8(V8 x) {
  return simd::div(x, simd::add(simd::set1(1.0f), simd::exp(simd::sub(simd::zero(), x))));
}
static inline float silu1(float x) { return x / (1.0f + simd::exp(-x)); }

void silu(float* x, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) simd::store(x + i, silu8(simd::load(x + i)));
  for (; i < n; ++i) x[i] = silu1(x[i]);
}

void swiglu(float* gate, const float* up, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) simd::store(gate + i, simd::mul(silu8(simd::load(gate + i)), simd::load(up + i)));
  for (; i < n; ++i) gate[i] = silu1(gate[i]) * up[i];
}

float log_sum_exp(const float* x, int n) {
  if (n <= 0) return -std::numeric_limits<float>::infinity();
  float mx = x[0];
  for (int i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  const V8 vmx = simd::set1(mx);
  V8 acc = simd::zero();
  int i = 0;
  for (; i + 8 <= n; i += 8) acc = simd::add(acc, simd::exp(simd::sub(simd::load(x + i), vmx)));
  float tail = 0.0f;
  for (; i < n; ++i) tail += simd::exp(x[i] - mx);
  return mx + std::log(simd::reduce_add(acc) + tail);
}

int argmax(const float* x, int n) {
  int best = -1;
  float best_value = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::isnan(x[i])) continue;
    if (best < 0 || x[i] > best_value) {
      best = i;
      best_value = x[i];
    }
  }
  return best < 0 ? 0 : best;
}

// ---------------------------------------------------------- reference ---
namespace ref {

void rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += double{x[i]} * x[i];
  const double scale = 1.0 / std::sqrt(ss / n + eps);
  for (int i = 0; i < n; ++i) out[i] = static_cast<float>(x[i] * scale * weight[i]);
}

void matmul_bt(float* C, int ldc, const float* A, int lda, const WeightRef& B, int M, float alpha, float beta) {
  const int64_t N = B.rows(), K = B.cols();
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t j = 0; j < N; ++j) {
    B.row_to_f32(j, row.data());
    for (int i = 0; i < M; ++i) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double{A[i * lda + k]} * row[static_cast<size_t>(k)];
      float& c = C[i * ldc + j];
      c = static_cast<float>(beta == 0.0f ? alpha * s : alpha * s + double{beta} * c);
    }
  }
}

void matvec(float* y, const WeightRef& W, const float* x) {
  ref::matmul_bt(y, static_cast<int>(W.rows()), x, static_cast<int>(W.cols()), W, 1, 1.0f, 0.0f);
}

void rope(float* x, int n_heads, int head_dim, const float* cos, const float* sin) {
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int i = 0; i < half; ++i) {
      const double a = v[i], b = v[i + half];
      v[i] = static_cast<float>(a * cos[i] - b * sin[i]);
      v[i + half] = static_cast<float>(b * cos[i] + a * sin[i]);
    }
  }
}

void attention(float* out, const float* q, const float* keys_t, const float* values, int head_dim, int stride,
               int len, float scale, float* scores) {
  for (int p = 0; p < len; ++p) {
    double s = 0;
    for (int d = 0; d < head_dim; ++d) s += double{q[d]} * keys_t[static_cast<size_t>(d) * stride + p];
    scores[p] = static_cast<float>(s * scale);
  }
  ref::softmax(scores, len);
  for (int d = 0; d < head_dim; ++d) {
    double o = 0;
    for (int p = 0; p < len; ++p) o += double{scores[p]} * values[static_cast<size_t>(p) * head_dim + d];
    out[d] = static_cast<float>(o);
  }
}

void softmax(float* x, int n) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < n; ++i) mx = std::max(mx, double{x[i]});
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(x[i] - mx);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>(std::exp(x[i] - mx) / sum);
}

void silu(float* x, int n) {
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>(x[i] / (1.0 + std::exp(-double{x[i]})));
}

void swiglu(float* gate, const float* up, int n) {
  for (int i = 0; i < n; ++i) gate[i] = static_cast<float>(gate[i] / (1.0 + std::exp(-double{gate[i]})) * up[i]);
}

void add(float* y, const float* x, int n) {
  for (int i = 0; i < n; ++i) y[i] += x[i];
}

void axpy(float* y, float a, const float* x, int n) {
  for (int i = 0; i < n; ++i) y[i] = static_cast<float>(y[i] + double{a} * x[i]);
}

float dot(const float* a, const float* b, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += double{a[i]} * b[i];
  return static_cast<float>(s);
}

int argmax(const float* x, int n) {
  int best = 0;
  bool found = false;
  for (int i = 0; i < n; ++i) {
    if (x[i] != x[i]) continue;
    if (!found || x[i] > x[best]) {
      best = i;
      found = true;
    }
  }
  return best;
}

}  // namespace ref

}  // namespace lm
