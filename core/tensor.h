// Tensors: element types, shapes, non-owning views and owning storage.
//
// Two kinds of object, as in gemma.cpp's MatPtr / MatStorage:
//   TensorView<T>  a non-owning, typed, strided view (weights point into the
//                  loaded file bytes; activations point into Tensor storage).
//   Tensor<T>      owns 64-byte aligned, zero-initialised storage for
//                  activations, KV caches and converted weights.
//   WeightRef      a read-only, type-erased view of one weight tensor whose
//                  element type is only known at run time (F32, F16, BF16 or
//                  Q8 blocks); kernels dispatch on its dtype.
// Computation is always in f32; F16/BF16 are storage types with exact
// conversions (f16/bf16 -> f32 is exact; f32 -> f16/bf16 rounds to nearest even).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace lm {

// ---------------------------------------------------------------- dtypes ---

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ8,  // int8 weights with one f32 scale per group of kQ8Group along each row
};

constexpr int kQ8Group = 32;

// Bytes per element (kQ8: the int8 payload only; scales are stored separately).
size_t dtype_size(DType dtype);
// "F32", "F16", "BF16", "Q8" (safetensors spelling for the first three).
const char* dtype_name(DType dtype);

// Storage element types. Plain wrappers around the bits so overloads can tell them apart.
struct F16 {
  uint16_t bits;
};
struct BF16 {
  uint16_t bits;
};

inline float bf16_to_f32(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest, ties to even; NaN stays NaN (quiet).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even; overflow -> inf

inline float to_f32(float x) { return x; }
inline float to_f32(F16 x) { return f16_to_f32(x.bits); }
inline float to_f32(BF16 x) { return bf16_to_f32(x.bits); }

template <class T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::kF32;
};
template <>
struct DTypeOf<F16> {
  static constexpr DType value = DType::kF16;
};
template <>
struct DTypeOf<BF16> {
  static constexpr DType value = DType::kBF16;
};

// ----------------------------------------------------------------- shape ---

constexpr int kMaxRank = 4;

struct Shape {
  int rank = 0;
  std::array<int64_t, kMaxRank> dims{};

  Shape() = default;
  Shape(std::initializer_list<int64_t> d);

  int64_t operator[](int i) const { return dims[static_cast<size_t>(i)]; }
  int64_t numel() const;
  std::string str() const;  // "[2048, 128]"
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
};

// Row-major (C order) strides in elements for a shape.
std::array<int64_t, kMaxRank> contiguous_strides(const Shape& shape);

// ---------------------------------------------------------- TensorView<T> ---

// Non-owning typed view. Strides are in elements. T may be const-qualified.
template <class T>
struct TensorView {
  T* data = nullptr;
  Shape shape;
  std::array<int64_t, kMaxRank> strides{};

  TensorView() = default;
  TensorView(T* d, const Shape& s) : data(d), shape(s), strides(contiguous_strides(s)) {}
  TensorView(T* d, const Shape& s, const std::array<int64_t, kMaxRank>& st)
      : data(d), shape(s), strides(st) {}

  int64_t numel() const { return shape.numel(); }
  bool is_contiguous() const { return strides == contiguous_strides(shape); }

  // Element access for rank-1/2/3 views.
  T& operator()(int64_t i) const { return data[i * strides[0]]; }
  T& operator()(int64_t i, int64_t j) const { return data[i * strides[0] + j * strides[1]]; }
  T& operator()(int64_t i, int64_t j, int64_t k) const {
    return data[i * strides[0] + j * strides[1] + k * strides[2]];
  }

  // Pointer to the first element of index i along dimension 0.
  T* row(int64_t i) const { return data + i * strides[0]; }

  operator TensorView<const T>() const { return TensorView<const T>(data, shape, strides); }
};

// ------------------------------------------------------------- Tensor<T> ---

namespace detail {
struct AlignedFree {
  void operator()(void* p) const;
};
// 64-byte aligned allocation of `bytes` bytes, zero-filled or not. Throws
// lm::Error(kResourceLimit) when it cannot be had (also when rounding `bytes`
// up to 64 would overflow).
void* aligned_zalloc(size_t bytes);
void* aligned_malloc(size_t bytes);
// Bytes of `numel` elements of `elem_size` bytes; throws lm::Error
// (kInvalidArgument for a negative count, kResourceLimit when it does not fit
// in size_t, e.g. 2^31 floats in 32-bit WebAssembly).
size_t storage_bytes(int64_t numel, size_t elem_size);
}  // namespace detail

enum class Init { kZero, kUninitialized };

// Owning, contiguous, 64-byte aligned storage. Allocates once at construction
// (or resize); the token loop only ever takes views of it. kUninitialized
// skips the zero fill for storage that is always written before it is read
// (the KV cache: no time spent, and untouched pages cost no memory).
template <class T>
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Shape& shape, Init init = Init::kZero) { resize(shape, init); }

  void resize(const Shape& shape, Init init = Init::kZero) {
    const size_t bytes = detail::storage_bytes(shape.numel(), sizeof(T));
    storage_.reset(!bytes ? nullptr
                          : static_cast<T*>(init == Init::kZero ? detail::aligned_zalloc(bytes)
                                                                : detail::aligned_malloc(bytes)));
    shape_ = shape;
  }

  T* data() { return storage_.get(); }
  const T* data() const { return storage_.get(); }
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return shape_.numel(); }
  size_t bytes() const { return static_cast<size_t>(numel()) * sizeof(T); }

  TensorView<T> view() { return TensorView<T>(data(), shape_); }
  TensorView<const T> view() const { return TensorView<const T>(data(), shape_); }

 private:
  Shape shape_;
  std::unique_ptr<T, detail::AlignedFree> storage_;
};

// -------------------------------------------------------------- WeightRef ---

// Read-only, type-erased view of one 1-D or 2-D weight tensor, row-major and
// contiguous. `data` points into memory someone else owns (the loaded
// safetensors bytes, or a Model's converted-weight storage).
// For kQ8, `data` holds int8 values [rows, cols] and `scales` one f32 per
// kQ8Group consecutive values of a row: [rows, cols / kQ8Group].
struct WeightRef {
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;
  const float* scales = nullptr;  // kQ8 only

  int64_t rows() const { return shape.rank == 1 ? 1 : shape[0]; }
  int64_t cols() const { return shape.rank == 1 ? shape[0] : shape[1]; }
  size_t bytes() const;  // payload bytes (+ scales for kQ8)

  // Typed view; the caller must have checked dtype == DTypeOf<T>::value.
  template <class T>
  TensorView<const T> as() const {
    return TensorView<const T>(static_cast<const T*>(data), shape);
  }

  // Row r converted to f32: out[0..cols).
  void row_to_f32(int64_t r, float* out) const;
};

}  // namespace lm
