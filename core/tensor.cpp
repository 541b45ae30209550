#include "tensor.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#include "error.h"

namespace lm {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kQ8: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kQ8: return "Q8";
  }
  return "?";
}

// IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN).
float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal: normalise the mantissa.
    uint32_t e = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// binary32 -> binary16, round to nearest even, overflow to inf, NaN stays NaN.
uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {
    // Result is subnormal (or zero): value = abs * 2^24 in units of 2^-24.
    const uint32_t exp = abs >> 23;
    if (exp < 102) return sign;  // below half the smallest subnormal
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exp;  // 14..24
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  // Normal: rebias and round the 13 dropped bits.
  uint32_t h = ((abs >> 13) - (112u << 10));
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

Shape::Shape(std::initializer_list<int64_t> d) {
  if (d.size() > kMaxRank) throw Error(ErrorKind::kInvalidArgument, "tensor rank above 4");
  rank = static_cast<int>(d.size());
  int i = 0;
  for (int64_t v : d) dims[static_cast<size_t>(i++)] = v;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[static_cast<size_t>(i)];
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[static_cast<size_t>(i)]);
  }
  return s + "]";
}

bool Shape::operator==(const Shape& o) const {
  if (rank != o.rank) return false;
  for (int i = 0; i < rank; ++i)
    if (dims[static_cast<size_t>(i)] != o.dims[static_cast<size_t>(i)]) return false;
  return true;
}

std::array<int64_t, kMaxRank> contiguous_strides(const Shape& shape) {
  std::array<int64_t, kMaxRank> s{};
  int64_t stride = 1;
  for (int i = shape.rank - 1; i >= 0; --i) {
    s[static_cast<size_t>(i)] = stride;
    stride *= shape.dims[static_cast<size_t>(i)];
  }
  return s;
}

namespace detail {
void AlignedFree::operator()(void* p) const { std::free(p); }

void* aligned_malloc(size_t bytes) {
  if (bytes > SIZE_MAX - 63)
    throw Error(ErrorKind::kResourceLimit, "out of memory allocating " + std::to_string(bytes) + " bytes");
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw Error(ErrorKind::kResourceLimit, "out of memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}

size_t storage_bytes(int64_t numel, size_t elem_size) {
  if (numel < 0) throw Error(ErrorKind::kInvalidArgument, "tensor with a negative element count");
  if (static_cast<uint64_t>(numel) > (SIZE_MAX - 63) / elem_size)
    throw Error(ErrorKind::kResourceLimit, "out of memory: a tensor of " + std::to_string(numel) + " elements of " +
                                               std::to_string(elem_size) + " bytes exceeds the address space");
  return static_cast<size_t>(numel) * elem_size;
}

void* aligned_zalloc(size_t bytes) {
  void* p = aligned_malloc(bytes);
  std::memset(p, 0, (bytes + 63) / 64 * 64);
  return p;
}
}  // namespace detail

size_t WeightRef::bytes() const {
  const auto n = static_cast<size_t>(shape.numel());
  size_t b = n * dtype_size(dtype);
  if (dtype == DType::kQ8) b += static_cast<size_t>(rows()) * static_cast<size_t>(cols() / kQ8Group) * sizeof(float);
  return b;
}

void WeightRef::row_to_f32(int64_t r, float* out) const {
  const int64_t n = cols();
  const int64_t base = r * n;
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out, static_cast<const float*>(data) + base, static_cast<size_t>(n) * 4);
      break;
    // 16-bit values are read with memcpy: a view into a safetensors file may
    // be misaligned (the model loader converts such tensors through here).
    case DType::kF16: {
      const auto* p = static_cast<const std::byte*>(data) + base * 2;
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = f16_to_f32(h);
      }
      break;
    }
    case DType::kBF16: {
      const auto* p = static_cast<const std::byte*>(data) + base * 2;
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      break;
    }
    case DType::kQ8: {
      const auto* p = static_cast<const int8_t*>(data) + base;
      const float* s = scales + r * (n / kQ8Group);
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]) * s[i / kQ8Group];
      break;
    }
  }
}

}  // namespace lm
