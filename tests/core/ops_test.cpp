// Every production kernel against the scalar reference (lm::ref), on random
// shapes including sizes that are not multiples of the SIMD width.
#include "ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <array>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "simd.h"
#include "tensor.h"
#include "thread_pool.h"

namespace lm {
namespace {

std::vector<float> random_vector(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Fails with the first index beyond tolerance and the max difference overall.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, float atol, float rtol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  float max_diff = 0.0f;
  long first_bad = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const float diff = std::fabs(got[i] - want[i]);
    max_diff = std::max(max_diff, diff);
    if (first_bad < 0 && !(diff <= atol + rtol * std::fabs(want[i]))) first_bad = static_cast<long>(i);
  }
  EXPECT_LT(first_bad, 0) << what << ": index " << first_bad << " got " << got[static_cast<size_t>(first_bad)]
                          << " want " << want[static_cast<size_t>(first_bad)] << "; max abs diff " << max_diff;
}

// A weight of the given dtype with random values, plus its storage.
struct RandomWeight {
  std::vector<float> f32;
  std::vector<uint16_t> half;
  WeightRef ref;
  RandomWeight(std::mt19937& rng, DType dtype, int64_t rows, int64_t cols) {
    f32 = random_vector(rng, static_cast<size_t>(rows * cols), 0.5f);
    ref.dtype = dtype;
    ref.shape = Shape{rows, cols};
    if (dtype == DType::kF32) {
      ref.data = f32.data();
    } else {
      half.resize(f32.size());
      for (size_t i = 0; i < f32.size(); ++i) half[i] = dtype == DType::kBF16 ? f32_to_bf16(f32[i]) : f32_to_f16(f32[i]);
      ref.data = half.data();
    }
  }
};

class MatmulTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTest, MatchesReferenceOnRaggedShapes) {
  std::mt19937 rng(1234);
  const int shapes[][3] = {{1, 1, 1},   {1, 7, 5},    {1, 64, 128}, {1, 33, 129}, {2, 5, 17},
                           {3, 9, 8},   {4, 16, 16},  {5, 31, 63},  {7, 130, 72}, {16, 64, 128},
                           {17, 19, 200}, {33, 3, 15}, {1, 2048, 128}};
  for (const auto& s : shapes) {
    const int M = s[0], N = s[1], K = s[2];
    RandomWeight B(rng, GetParam(), N, K);
    const std::vector<float> A = random_vector(rng, static_cast<size_t>(M * K));
    for (float beta : {0.0f, 0.5f}) {
      const std::vector<float> C0 = random_vector(rng, static_cast<size_t>(M * N));
      std::vector<float> got = C0, want = C0;
      matmul_bt(got.data(), N, A.data(), K, B.ref, M, 0.75f, beta);
      ref::matmul_bt(want.data(), N, A.data(), K, B.ref, M, 0.75f, beta);
      expect_close(got, want, 1e-4f, 1e-4f,
                   std::string(dtype_name(GetParam())) + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                       " K=" + std::to_string(K) + " beta=" + std::to_string(beta));
    }
  }
}

TEST_P(MatmulTest, BetaZeroIgnoresGarbageInC) {
  std::mt19937 rng(7);
  RandomWeight B(rng, GetParam(), 9, 24);
  const std::vector<float> A = random_vector(rng, 2 * 24);
  std::vector<float> C(2 * 9, std::nanf(""));
  matmul_bt(C.data(), 9, A.data(), 24, B.ref, 2);
  for (float c : C) EXPECT_FALSE(std::isnan(c));
}

// Tiling and threading change which kernel computes an element, never its
// value. (M * N * K is above matmul_bt's threshold for using threads, and N
// is not a multiple of the decode kernels' row counts, so every path runs.)
TEST_P(MatmulTest, RowsAreBitIdenticalWhateverTheBatchOrThreads) {
  std::mt19937 rng(99);
  const int M = 11, N = 611, K = 93;
  RandomWeight B(rng, GetParam(), N, K);
  const std::vector<float> A = random_vector(rng, static_cast<size_t>(M * K));
  std::vector<float> batched(static_cast<size_t>(M * N)), single(static_cast<size_t>(N));
  matmul_bt(batched.data(), N, A.data(), K, B.ref, M);
  for (int i = 0; i < M; ++i) {
    matvec(single.data(), B.ref, A.data() + i * K);
    for (int j = 0; j < N; ++j) ASSERT_EQ(batched[static_cast<size_t>(i * N + j)], single[static_cast<size_t>(j)]) << i << "," << j;
  }
  if (ThreadPool::threads_available()) {
    ThreadPool pool(2);
    std::vector<float> threaded(static_cast<size_t>(M * N));
    matmul_bt(threaded.data(), N, A.data(), K, B.ref, M, 1.0f, 0.0f, &pool);
    EXPECT_EQ(threaded, batched);
  }
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, MatmulTest, ::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                         [](const auto& param_info) { return std::string(dtype_name(param_info.param)); });

// Q8 weights: the kernel equals "quantize the activations the same way, sum
// the integer products exactly, scale per group" computed in double.
TEST(Ops, Q8MatmulMatchesQuantizedReference) {
  std::mt19937 rng(31);
  for (const auto& [M, N, K] : std::vector<std::array<int, 3>>{{1, 1, 32}, {1, 37, 64}, {3, 9, 96}, {5, 130, 768}}) {
    const std::vector<float> w = random_vector(rng, static_cast<size_t>(N * K), 0.3f);
    const std::vector<float> A = random_vector(rng, static_cast<size_t>(M * K), 2.0f);
    const int G = K / kQ8Group;
    std::vector<int8_t> wq(static_cast<size_t>(N * K));
    std::vector<float> ws(static_cast<size_t>(N * G));
    for (int j = 0; j < N; ++j) quantize_q8(&w[static_cast<size_t>(j * K)], K, &wq[static_cast<size_t>(j * K)], &ws[static_cast<size_t>(j * G)]);
    const WeightRef B{DType::kQ8, Shape{N, K}, wq.data(), ws.data()};
    std::vector<float> got(static_cast<size_t>(M * N)), want(static_cast<size_t>(M * N));
    matmul_bt(got.data(), N, A.data(), K, B, M);
    for (int i = 0; i < M; ++i) {
      std::vector<int8_t> xq(static_cast<size_t>(K));
      std::vector<float> xs(static_cast<size_t>(G));
      quantize_q8(&A[static_cast<size_t>(i * K)], K, xq.data(), xs.data());
      for (int j = 0; j < N; ++j) {
        double sum = 0;
        for (int g = 0; g < G; ++g) {
          long isum = 0;
          for (int k = g * kQ8Group; k < (g + 1) * kQ8Group; ++k) isum += long{wq[static_cast<size_t>(j * K + k)]} * xq[static_cast<size_t>(k)];
          sum += double(isum) * ws[static_cast<size_t>(j * G + g)] * xs[static_cast<size_t>(g)];
        }
        want[static_cast<size_t>(i * N + j)] = static_cast<float>(sum);
      }
    }
    expect_close(got, want, 1e-4f, 1e-5f, "Q8 M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
    // Dequantized weights x float activations stay close too (quantization error only).
    std::vector<float> f32(static_cast<size_t>(M * N));
    ref::matmul_bt(f32.data(), N, A.data(), K, B, M, 1.0f, 0.0f);
    for (size_t t = 0; t < f32.size(); ++t) EXPECT_NEAR(got[t], f32[t], 0.03f * std::sqrt(static_cast<float>(K))) << t;
  }
}

// Decode (one row, far-apart weight rows read together) and prefill (tiles
// of activation rows) give every Q8 element the same bits; so do threads
// (M * N * K is above matmul_bt's threshold for using them).
TEST(Ops, Q8RowsAreBitIdenticalWhateverTheBatchOrThreads) {
  std::mt19937 rng(77);
  const int M = 7, N = 301, K = 256, G = K / kQ8Group;
  const std::vector<float> w = random_vector(rng, static_cast<size_t>(N * K), 0.3f);
  std::vector<int8_t> wq(static_cast<size_t>(N * K));
  std::vector<float> ws(static_cast<size_t>(N * G));
  for (int j = 0; j < N; ++j) quantize_q8(&w[static_cast<size_t>(j * K)], K, &wq[static_cast<size_t>(j * K)], &ws[static_cast<size_t>(j * G)]);
  const WeightRef B{DType::kQ8, Shape{N, K}, wq.data(), ws.data()};
  const std::vector<float> A = random_vector(rng, static_cast<size_t>(M * K));
  std::vector<float> batched(static_cast<size_t>(M * N)), single(static_cast<size_t>(N));
  matmul_bt(batched.data(), N, A.data(), K, B, M);
  for (int i = 0; i < M; ++i) {
    matvec(single.data(), B, A.data() + i * K);
    for (int j = 0; j < N; ++j) ASSERT_EQ(batched[static_cast<size_t>(i * N + j)], single[static_cast<size_t>(j)]) << i << "," << j;
  }
  if (ThreadPool::threads_available()) {
    ThreadPool pool(2);
    std::vector<float> threaded(static_cast<size_t>(M * N));
    matmul_bt(threaded.data(), N, A.data(), K, B, M, 1.0f, 0.0f, &pool);
    EXPECT_EQ(threaded, batched);
  }
}

TEST(Ops, QuantizeQ8RoundTripsWithinHalfAStep) {
  std::mt19937 rng(32);
  const std::vector<float> x = random_vector(rng, 256, 3.0f);
  std::vector<int8_t> q(256);
  std::vector<float> s(8);
  quantize_q8(x.data(), 256, q.data(), s.data());
  for (size_t i = 0; i < 256; ++i) {
    EXPECT_LE(std::abs(int{q[i]}), 127);
    EXPECT_LE(std::fabs(q[i] * s[i / 32] - x[i]), s[i / 32] * 0.5f + 1e-6f) << i;
  }
  const std::vector<float> zeros(32, 0.0f);
  quantize_q8(zeros.data(), 32, q.data(), s.data());
  EXPECT_EQ(s[0], 0.0f);
  EXPECT_EQ(q[0], 0);
}

// Found by fuzzing (fuzz/regressions/model): NaN or inf in a group (in
// weights quantized at load, or in activations) made quantize_q8 convert NaN
// to int8, which is undefined behaviour. Non-finite values now quantize to 0
// and leave the finite ones of other groups alone.
TEST(Ops, QuantizeQ8HandlesNonFiniteValues) {
  std::vector<float> x(64, 0.5f);
  x[0] = std::numeric_limits<float>::quiet_NaN();
  x[1] = 1.0f;
  x[32] = std::numeric_limits<float>::infinity();
  x[33] = -std::numeric_limits<float>::infinity();
  std::vector<int8_t> q(64);
  std::vector<float> s(2);
  quantize_q8(x.data(), 64, q.data(), s.data());
  EXPECT_EQ(q[0], 0);
  EXPECT_EQ(q[1], 127);
  EXPECT_EQ(q[2], 64);  // 0.5 * 127 = 63.5, rounded to even
  EXPECT_EQ(s[0], 1.0f / 127.0f);
  EXPECT_EQ(q[32], 0);
  EXPECT_EQ(q[33], 0);
  EXPECT_TRUE(std::isinf(s[1]));
}

TEST(Ops, MatvecMatchesReference) {
  std::mt19937 rng(5);
  for (int K : {1, 8, 13, 128, 385}) {
    RandomWeight W(rng, DType::kF32, 37, K);
    const std::vector<float> x = random_vector(rng, static_cast<size_t>(K));
    std::vector<float> got(37), want(37);
    matvec(got.data(), W.ref, x.data());
    ref::matvec(want.data(), W.ref, x.data());
    expect_close(got, want, 1e-4f, 1e-4f, "matvec K=" + std::to_string(K));
  }
}

TEST(Ops, RmsNormMatchesReference) {
  std::mt19937 rng(11);
  for (int n : {1, 7, 8, 9, 128, 255}) {
    const std::vector<float> x = random_vector(rng, static_cast<size_t>(n), 3.0f);
    const std::vector<float> w = random_vector(rng, static_cast<size_t>(n));
    std::vector<float> got(static_cast<size_t>(n)), want(static_cast<size_t>(n));
    rmsnorm(got.data(), x.data(), w.data(), n, 1e-6f);
    ref::rmsnorm(want.data(), x.data(), w.data(), n, 1e-6f);
    expect_close(got, want, 1e-5f, 1e-5f, "rmsnorm n=" + std::to_string(n));
    // In place (out aliases x) gives the same.
    std::vector<float> inplace = x;
    rmsnorm(inplace.data(), inplace.data(), w.data(), n, 1e-6f);
    EXPECT_EQ(inplace, got);
  }
}

TEST(Ops, RopeMatchesReferenceAndRotatesHalves) {
  std::mt19937 rng(3);
  for (int hd : {2, 6, 16, 24, 64}) {
    const int heads = 3, half = hd / 2;
    std::vector<float> cos(static_cast<size_t>(half)), sin(static_cast<size_t>(half));
    for (int i = 0; i < half; ++i) {
      const double angle = 7.0 / std::pow(10000.0, 2.0 * i / hd);
      cos[static_cast<size_t>(i)] = static_cast<float>(std::cos(angle));
      sin[static_cast<size_t>(i)] = static_cast<float>(std::sin(angle));
    }
    const std::vector<float> x = random_vector(rng, static_cast<size_t>(heads * hd));
    std::vector<float> got = x, want = x;
    rope(got.data(), heads, hd, cos.data(), sin.data());
    ref::rope(want.data(), heads, hd, cos.data(), sin.data());
    expect_close(got, want, 1e-6f, 1e-6f, "rope head_dim=" + std::to_string(hd));
    // The rotate-half layout pairs x[i] with x[i + half] and preserves each pair's norm.
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < half; ++i) {
        const size_t a = static_cast<size_t>(h * hd + i), b = a + static_cast<size_t>(half);
        EXPECT_NEAR(got[a] * got[a] + got[b] * got[b], x[a] * x[a] + x[b] * x[b], 1e-4f);
      }
  }
}

TEST(Ops, SoftmaxIsStableAndMatchesReference) {
  std::mt19937 rng(8);
  for (int n : {1, 5, 8, 100, 2048}) {
    std::vector<float> x = random_vector(rng, static_cast<size_t>(n), 10.0f);
    x[0] = 1000.0f;  // would overflow without subtracting the max
    std::vector<float> got = x, want = x;
    softmax(got.data(), n);
    ref::softmax(want.data(), n);
    expect_close(got, want, 1e-6f, 1e-5f, "softmax n=" + std::to_string(n));
    double sum = 0;
    for (float p : got) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST(Ops, SiluSwigluMatchReference) {
  std::mt19937 rng(4);
  for (int n : {1, 9, 384}) {
    const std::vector<float> g = random_vector(rng, static_cast<size_t>(n), 4.0f);
    const std::vector<float> u = random_vector(rng, static_cast<size_t>(n));
    std::vector<float> got = g, want = g;
    silu(got.data(), n);
    ref::silu(want.data(), n);
    expect_close(got, want, 1e-6f, 1e-5f, "silu");
    got = g;
    want = g;
    swiglu(got.data(), u.data(), n);
    ref::swiglu(want.data(), u.data(), n);
    expect_close(got, want, 1e-6f, 1e-5f, "swiglu");
  }
}

TEST(Ops, AddAxpyDotMatchReference) {
  std::mt19937 rng(6);
  for (int n : {1, 7, 8, 17, 1000}) {
    const std::vector<float> x = random_vector(rng, static_cast<size_t>(n));
    const std::vector<float> y0 = random_vector(rng, static_cast<size_t>(n));
    std::vector<float> got = y0, want = y0;
    add(got.data(), x.data(), n);
    ref::add(want.data(), x.data(), n);
    expect_close(got, want, 0, 0, "add");
    got = y0;
    want = y0;
    axpy(got.data(), -0.3f, x.data(), n);
    ref::axpy(want.data(), -0.3f, x.data(), n);
    expect_close(got, want, 1e-6f, 1e-6f, "axpy");
    EXPECT_NEAR(dot(x.data(), y0.data(), n), ref::dot(x.data(), y0.data(), n), 1e-4f * std::sqrt(n));
  }
}

TEST(Ops, AttentionMatchesReference) {
  std::mt19937 rng(21);
  for (int hd : {8, 16, 64, 12}) {
    for (int len : {1, 7, 8, 9, 33, 200}) {
      const int stride = len + 5;
      const std::vector<float> q = random_vector(rng, static_cast<size_t>(hd));
      const std::vector<float> kt = random_vector(rng, static_cast<size_t>(hd * stride));
      const std::vector<float> v = random_vector(rng, static_cast<size_t>(len * hd));
      std::vector<float> got(static_cast<size_t>(hd)), want(static_cast<size_t>(hd)), s1(static_cast<size_t>(len)),
          s2(static_cast<size_t>(len));
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      attention(got.data(), q.data(), kt.data(), v.data(), hd, stride, len, scale, s1.data());
      ref::attention(want.data(), q.data(), kt.data(), v.data(), hd, stride, len, scale, s2.data());
      expect_close(got, want, 1e-5f, 1e-4f, "attention hd=" + std::to_string(hd) + " len=" + std::to_string(len));
      expect_close(s1, s2, 1e-6f, 1e-4f, "attention probabilities");
    }
  }
}

TEST(Ops, ArgmaxTiesGoToLowestIndexAndSkipsNaN) {
  const std::vector<float> x = {1.0f, 3.0f, std::nanf(""), 3.0f, -2.0f};
  EXPECT_EQ(argmax(x.data(), 5), 1);
  EXPECT_EQ(ref::argmax(x.data(), 5), 1);
  const std::vector<float> y = {std::nanf(""), -5.0f, -1.0f};
  EXPECT_EQ(argmax(y.data(), 3), 2);
  std::mt19937 rng(2);
  for (int trial = 0; trial < 20; ++trial) {
    const std::vector<float> r = random_vector(rng, 333);
    EXPECT_EQ(argmax(r.data(), 333), ref::argmax(r.data(), 333));
  }
}

TEST(Simd, ExpIsAccurate) {
  double max_rel = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.01171875f) {
    const double want = std::exp(double{x});
    max_rel = std::max(max_rel, std::fabs(simd::exp(x) - want) / want);
  }
  EXPECT_LT(max_rel, 3e-7);  // ~2.5 ulp
  EXPECT_EQ(simd::exp(-100.0f), 0.0f);
  EXPECT_EQ(simd::exp(0.0f), 1.0f);
  EXPECT_TRUE(std::isinf(simd::exp(89.0f)));
  EXPECT_TRUE(std::isnan(simd::exp(std::nanf(""))));
}

// The vector exp gives exactly the scalar exp's bits, lane by lane, special values included.
TEST(Simd, VectorExpEqualsScalarExp) {
  std::vector<float> xs = {0.0f, -0.0f, 1.0f, -1.0f, 88.3762626647949f, 88.38f, 89.0f, -87.3365447504f, -87.34f,
                           -100.0f, std::nanf(""), INFINITY, -INFINITY, 1e-30f, -1e-30f, 0.5f};
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> dist(-90.0f, 90.0f);
  for (int i = 0; i < 100000; ++i) xs.push_back(dist(rng));
  while (xs.size() % 8) xs.push_back(0.25f);
  for (size_t i = 0; i < xs.size(); i += 8) {
    float got[8];
    simd::store(got, simd::exp(simd::load(&xs[i])));
    for (size_t j = 0; j < 8; ++j) {
      const float want = simd::exp(xs[i + j]);
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(got[j])) << xs[i + j];
        continue;
      }
      uint32_t a, b;
      std::memcpy(&a, &got[j], 4);
      std::memcpy(&b, &want, 4);
      ASSERT_EQ(a, b) << "x = " << xs[i + j] << " vector " << got[j] << " scalar " << want;
    }
  }
}

TEST(Ops, LogSumExpMatchesReference) {
  std::mt19937 rng(13);
  for (int n : {1, 7, 8, 9, 2048, 2049}) {
    const std::vector<float> x = random_vector(rng, static_cast<size_t>(n), 20.0f);
    double mx = -1e300, sum = 0;
    for (float v : x) mx = std::max(mx, double{v});
    for (float v : x) sum += std::exp(v - mx);
    EXPECT_NEAR(log_sum_exp(x.data(), n), mx + std::log(sum), 1e-4) << n;
  }
}

}  // namespace
}  // namespace lm
