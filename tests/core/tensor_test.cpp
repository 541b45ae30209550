#include "tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "error.h"
#include "simd.h"

namespace lm {
namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// f16 -> f32 -> f16 is the identity on every non-NaN half, and the f32 value
// is the exact IEEE meaning of the half (checked against ldexp).
TEST(Tensor, F16ConversionIsExactForEveryValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    const bool neg = h & 0x8000;
    if (exp == 0x1f) {
      EXPECT_TRUE(mant ? std::isnan(f) : std::isinf(f)) << h;
      continue;
    }
    const double magnitude = exp == 0 ? std::ldexp(double(mant), -24) : std::ldexp(double(mant | 0x400), int(exp) - 25);
    ASSERT_EQ(double(f), neg ? -magnitude : magnitude) << "half 0x" << std::hex << h;
    ASSERT_EQ(f32_to_f16(f), h) << "round trip of half 0x" << std::hex << h;
  }
}

TEST(Tensor, F32ToF16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // halfway to 65536: rounds to even = inf
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(1e9f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e9f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);      // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);      // exactly half of it: ties to even (0)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);      // 1.5 ulp: ties to even (2)
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even -> 1.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::nanf("")))));
  // Random values: the result is one of the two neighbours and the nearer one.
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-70000.0f, 70000.0f);
  for (int i = 0; i < 100000; ++i) {
    const float f = dist(rng);
    const uint16_t h = f32_to_f16(f);
    const float r = f16_to_f32(h);
    if (std::isinf(r)) {
      EXPECT_GE(std::fabs(f), 65520.0f);
      continue;
    }
    const float up = f16_to_f32(static_cast<uint16_t>(h + 1)), down = f16_to_f32(static_cast<uint16_t>(h - 1));
    EXPECT_LE(std::fabs(r - f), std::fabs(up - f)) << f;
    EXPECT_LE(std::fabs(r - f), std::fabs(down - f)) << f;
  }
}

TEST(Tensor, BF16ConversionIsExactAndRoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    ASSERT_EQ(bits_of(f), h << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16(f), h);
    }
  }
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even.
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
}

// The SIMD loaders agree with the scalar conversions lane by lane.
TEST(Tensor, SimdLoadersMatchScalarConversions) {
  std::mt19937 rng(9);
  std::vector<uint16_t> halves(8 * 4096);
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(i < 65536 ? i * 7 : rng());
  for (size_t i = 0; i < halves.size(); i += 8) {
    float got[8];
    simd::store(got, simd::load_f16(&halves[i]));
    for (int j = 0; j < 8; ++j) {
      const float want = f16_to_f32(halves[i + static_cast<size_t>(j)]);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got[j]));
        continue;
      }
      ASSERT_EQ(bits_of(got[j]), bits_of(want)) << "f16 0x" << std::hex << halves[i + static_cast<size_t>(j)];
    }
    // bf16 comes out in even/odd lane order: elements 0,2,4,6 then 1,3,5,7.
    simd::store(got, simd::load_bf16_eo(&halves[i]));
    for (int j = 0; j < 8; ++j) {
      const size_t source = i + static_cast<size_t>(j < 4 ? 2 * j : 2 * (j - 4) + 1);
      ASSERT_EQ(bits_of(got[j]), uint32_t{halves[source]} << 16);
    }
  }
}

TEST(Tensor, ShapeStridesAndViews) {
  const Shape s{2, 3, 4};
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s.str(), "[2, 3, 4]");
  EXPECT_EQ(contiguous_strides(s)[0], 12);
  EXPECT_EQ(contiguous_strides(s)[2], 1);
  EXPECT_NE(s, (Shape{2, 3}));

  Tensor<float> t(s);
  EXPECT_EQ(t.bytes(), 24u * 4);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(t.data()[i], 0.0f);  // zero-initialised
  TensorView<float> v = t.view();
  v(1, 2, 3) = 5.0f;
  EXPECT_EQ(t.data()[23], 5.0f);
  EXPECT_EQ(v.row(1), t.data() + 12);
  // A transposed view over the same storage.
  TensorView<float> tr(t.data(), Shape{4, 3, 2}, {1, 4, 12});
  EXPECT_EQ(tr(3, 2, 1), 5.0f);
  EXPECT_FALSE(tr.is_contiguous());
  TensorView<const float> cv = v;
  EXPECT_EQ(cv(1, 2, 3), 5.0f);
}

TEST(Tensor, WeightRefRowConversion) {
  const std::vector<float> values = {1.5f, -2.0f, 0.25f, 3.0f, 7.0f, -0.5f};
  std::vector<uint16_t> bf(values.size()), hf(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    bf[i] = f32_to_bf16(values[i]);
    hf[i] = f32_to_f16(values[i]);
  }
  for (auto [dtype, ptr] : {std::pair<DType, const void*>{DType::kF32, values.data()}, {DType::kBF16, bf.data()},
                            {DType::kF16, hf.data()}}) {
    WeightRef w{dtype, Shape{2, 3}, ptr, nullptr};
    EXPECT_EQ(w.rows(), 2);
    EXPECT_EQ(w.cols(), 3);
    float row[3];
    w.row_to_f32(1, row);
    EXPECT_EQ(row[0], 3.0f);
    EXPECT_EQ(row[1], 7.0f);
    EXPECT_EQ(row[2], -0.5f);
    EXPECT_EQ(w.bytes(), 6 * dtype_size(dtype));
  }
}

// Found by fuzzing: a view into a safetensors file may be misaligned, and
// its F16 / BF16 rows were read through uint16_t pointers (UB).
TEST(Tensor, WeightRefRowConversionReadsMisalignedHalfPrecision) {
  const std::vector<float> values = {1.5f, -2.0f, 0.25f, 3.0f};
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    std::vector<unsigned char> bytes(1 + 2 * values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      const uint16_t h = dtype == DType::kF16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
      std::memcpy(bytes.data() + 1 + 2 * i, &h, 2);
    }
    WeightRef w{dtype, Shape{2, 2}, bytes.data() + 1, nullptr};
    float row[2];
    w.row_to_f32(1, row);
    EXPECT_EQ(row[0], 0.25f);
    EXPECT_EQ(row[1], 3.0f);
  }
}

// Sizes are checked before allocating: a negative count is an argument
// error; a size that does not fit size_t (or whose rounding up to 64 bytes
// would wrap around to a tiny block) is a resource-limit error.
TEST(Tensor, StorageSizesAreCheckedBeforeAllocating) {
  auto kind_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.kind();
    }
    ADD_FAILURE() << "no lm::Error";
    return ErrorKind::kState;
  };
  EXPECT_EQ(kind_of([] { Tensor<float> t(Shape{-1, 4}); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([] { Tensor<float> t(Shape{int64_t{1} << 31, int64_t{1} << 31}); }), ErrorKind::kResourceLimit);
  EXPECT_EQ(kind_of([] { detail::aligned_malloc(SIZE_MAX - 10); }), ErrorKind::kResourceLimit);
  Tensor<float> empty(Shape{0, 4});
  EXPECT_EQ(empty.data(), nullptr);
}

}  // namespace
}  // namespace lm
