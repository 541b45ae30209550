// KvCache: the keys and values of every position seen so far, for one session.
//
// Kept apart from the weights so one loaded Model serves many sessions, each
// with its own cache. Allocated once, for a fixed context length.
#pragma once

#include <cstddef>

#include "config.h"
#include "tensor.h"

namespace lm {

class KvCache {
 public:
  // Throws lm::Error(kInvalidArgument) unless 1 <= context_length <= config.max_position_embeddings.
  KvCache(const ModelConfig& config, int context_length);

  int context_length() const { return context_length_; }
  size_t bytes() const { return keys_.bytes() + values_.bytes(); }
  static size_t bytes_needed(const ModelConfig& config, int context_length);

  // Key / value vector [head_dim] of one kv head at one position. Each head's
  // positions are contiguous, so attention walks memory linearly.
  float* key(int layer, int kv_head, int pos) { return keys_.data() + offset(layer, kv_head, pos); }
  float* value(int layer, int kv_head, int pos) { return values_.data() + offset(layer, kv_head, pos); }
  const float* key(int layer, int kv_head, int pos) const { return keys_.data() + offset(layer, kv_head, pos); }
  const float* value(int layer, int kv_head, int pos) const { return values_.data() + offset(layer, kv_head, pos); }

 private:
  size_t offset(int layer, int kv_head, int pos) const {
    return ((static_cast<size_t>(layer) * n_kv_heads_ + static_cast<size_t>(kv_head)) * context_length_ +
            static_cast<size_t>(pos)) * head_dim_;
  }
  int context_length_;
  int n_kv_heads_;
  int head_dim_;
  Tensor<float> keys_;    // [layers, kv_heads, context_length, head_dim]
  Tensor<float> values_;  // [layers, kv_heads, context_length, head_dim]
};

}  // namespace lm
