// ops.h: the numerical building blocks of the forward pass.
//
// lm::  the production kernels (SIMD through simd.h, bit-identical on every
//       backend; see simd.h).
// lm::ref::  straightforward scalar loops with double accumulation. They are
//       the specification: tests compare every lm:: kernel against them.
// All activations are f32; weights may be any WeightRef dtype.
#pragma once

#include <cstdint>

#include "tensor.h"

namespace lm {

class ThreadPool;

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], i < n. out may alias x.
void rmsnorm(float* out, const float* x, const float* weight, int n, float eps);

// C = alpha * A * B^T + beta * C
//   A: [M, K] f32, row stride lda     (activations, one row per token)
//   B: [N, K] weight of any dtype     (a linear layer's weight, HF layout;
//                                      Q8: activations are quantized too, see quantize_q8)
//   C: [M, N] f32, row stride ldc
// beta == 0 ignores C's old contents (NaN-safe). `pool` may be null (run on
// the calling thread); with a pool the N rows of B are split across threads.
void matmul_bt(float* C, int ldc, const float* A, int lda, const WeightRef& B, int M, float alpha = 1.0f,
               float beta = 0.0f, ThreadPool* pool = nullptr);

// Symmetric int8 quantization per group of kQ8Group values (n a multiple of
// it): scales[g] = max|x| / 127, q = round(x / scales[g]). Used for Q8
// weights at load and for activations meeting Q8 weights.
void quantize_q8(const float* x, int64_t n, int8_t* q, float* scales);

// y[N] = W[N, K] x[K]; the M = 1 case of matmul_bt.
void matvec(float* y, const WeightRef& W, const float* x, ThreadPool* pool = nullptr);

// Rotary position embedding, Hugging Face rotate-half layout: for each of
// n_heads heads of width head_dim in x ([n_heads, head_dim]) and i < head_dim/2,
//   (x[i], x[i + head_dim/2]) <- (x[i] c - x[i+h] s, x[i+h] c + x[i] s)
// with c = cos[i], s = sin[i] for this token's position.
void rope(float* x, int n_heads, int head_dim, const float* cos, const float* sin);

// One query head attending to positions 0..len-1 of one kv head:
//   scores[p] = scale * q . k_p,  probs = softmax(scores),  out = sum_p probs[p] v_p
//   q: [head_dim]; keys_t: [head_dim, stride] (transposed, position fastest);
//   values: [>= len, head_dim]; scores: [>= len] scratch; out: [head_dim].
void attention(float* out, const float* q, const float* keys_t, const float* values, int head_dim, int stride,
               int len, float scale, float* scores);

// In place, numerically stable: x <- exp(x - max) / sum.
void softmax(float* x, int n);

// x <- x * sigmoid(x)
void silu(float* x, int n);
// gate <- silu(gate) * up   (the SwiGLU MLP's elementwise part)
void swiglu(float* gate, const float* up, int n);

// log(sum_i exp(x[i])), computed stably.
float log_sum_exp(const float* x, int n);

// y <- y + x
void add(float* y, const float* x, int n);
// y <- y + a * x
void axpy(float* y, float a, const float* x, int n);
// sum_i a[i] * b[i]
float dot(const float* a, const float* b, int n);

// Index of the largest value; ties go to the lowest index; NaN never wins.
int argmax(const float* x, int n);

namespace ref {
void rmsnorm(float* out, const float* x, const float* weight, int n, float eps);
void matmul_bt(float* C, int ldc, const float* A, int lda, const WeightRef& B, int M, float alpha, float beta);
void matvec(float* y, const WeightRef& W, const float* x);
void rope(float* x, int n_heads, int head_dim, const float* cos, const float* sin);
void attention(float* out, const float* q, const float* keys_t, const float* values, int head_dim, int stride,
               int len, float scale, float* scores);
void softmax(float* x, int n);
void silu(float* x, int n);
void swiglu(float* gate, const float* up, int n);
void add(float* y, const float* x, int n);
void axpy(float* y, float a, const float* x, int n);
float dot(const float* a, const float* b, int n);
int argmax(const float* x, int n);
}  // namespace ref

}  // namespace lm
