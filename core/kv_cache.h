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

  // Keys of one kv head, transposed: [head_dim, context_length], so the
  // scores of consecutive positions are computed as one vector (ops.h attention).
  const float* keys_t(int layer, int kv_head) const { return keys_.data() + block(layer, kv_head); }
  // Values of one kv head: [context_length, head_dim].
  const float* values(int layer, int kv_head) const { return values_.data() + block(layer, kv_head); }

  // Writes the key and value vectors [head_dim] of one kv head at one position.
  void store(int layer, int kv_head, int pos, const float* key, const float* value);
  // Element d of the key at `pos` (tests and debugging).
  float key_at(int layer, int kv_head, int pos, int d) const {
    return keys_t(layer, kv_head)[static_cast<size_t>(d) * context_length_ + static_cast<size_t>(pos)];
  }

 private:
  size_t block(int layer, int kv_head) const {
    return (static_cast<size_t>(layer) * n_kv_heads_ + static_cast<size_t>(kv_head)) * context_length_ * head_dim_;
  }
  int context_length_;
  int n_kv_heads_;
  int head_dim_;
  Tensor<float> keys_;    // [layers, kv_heads, head_dim, context_length]
  Tensor<float> values_;  // [layers, kv_heads, context_length, head_dim]
};

}  // namespace lm
