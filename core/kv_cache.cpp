#include "kv_cache.h"

#include <string>

#include "error.h"

namespace lm {

KvCache::KvCache(const ModelConfig& config, int context_length)
    : context_length_(context_length), n_kv_heads_(config.num_key_value_heads), head_dim_(config.head_dim) {
  if (context_length < 1 || context_length > config.max_position_embeddings)
    throw Error(ErrorKind::kInvalidArgument, "context length must be between 1 and " +
                                                 std::to_string(config.max_position_embeddings) + ", got " +
                                                 std::to_string(context_length));
  const Shape shape{config.num_hidden_layers, n_kv_heads_, context_length, head_dim_};
  keys_.resize(shape);
  values_.resize(shape);
}

size_t KvCache::bytes_needed(const ModelConfig& config, int context_length) {
  return 2 * sizeof(float) * static_cast<size_t>(config.num_hidden_layers) *
         static_cast<size_t>(config.num_key_value_heads) * static_cast<size_t>(context_length) *
         static_cast<size_t>(config.head_dim);
}

}  // namespace lm
