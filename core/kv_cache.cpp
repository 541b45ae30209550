#include "kv_cache.h"

#include <cstring>
#include <string>

#include "error.h"

namespace lm {

KvCache::KvCache(const ModelConfig& config, int context_length)
    : context_length_(context_length), n_kv_heads_(config.num_key_value_heads), head_dim_(config.head_dim) {
  if (context_length < 1 || context_length > config.max_position_embeddings)
    throw Error(ErrorKind::kInvalidArgument, "context length must be between 1 and " +
                                                 std::to_string(config.max_position_embeddings) + ", got " +
                                                 std::to_string(context_length));
  // Positions are written before attention reads them: no zero fill needed.
  keys_.resize(Shape{config.num_hidden_layers, n_kv_heads_, head_dim_, context_length}, Init::kUninitialized);
  values_.resize(Shape{config.num_hidden_layers, n_kv_heads_, context_length, head_dim_}, Init::kUninitialized);
}

void KvCache::store(int layer, int kv_head, int pos, const float* key, const float* value) {
  float* kt = keys_.data() + block(layer, kv_head) + pos;
  for (int d = 0; d < head_dim_; ++d) kt[static_cast<size_t>(d) * context_length_] = key[d];
  std::memcpy(values_.data() + block(layer, kv_head) + static_cast<size_t>(pos) * head_dim_, value,
              sizeof(float) * static_cast<size_t>(head_dim_));
}

size_t KvCache::bytes_needed(const ModelConfig& config, int context_length) {
  return 2 * sizeof(float) * static_cast<size_t>(config.num_hidden_layers) *
         static_cast<size_t>(config.num_key_value_heads) * static_cast<size_t>(context_length) *
         static_cast<size_t>(config.head_dim);
}

}  // namespace lm
