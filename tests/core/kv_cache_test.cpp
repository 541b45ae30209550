#include "kv_cache.h"

#include <gtest/gtest.h>

#include "error.h"

namespace lm {
namespace {

ModelConfig small_config() {
  ModelConfig c;
  c.hidden_size = 32;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  return c;
}

TEST(KvCache, SizesFollowTheConfig) {
  const ModelConfig c = small_config();
  KvCache cache(c, 16);
  EXPECT_EQ(cache.context_length(), 16);
  EXPECT_EQ(cache.bytes(), 2u * 4 * 3 * 2 * 16 * 8);
  EXPECT_EQ(KvCache::bytes_needed(c, 16), cache.bytes());
}

// Every (layer, head, position) slot is distinct; keys are stored transposed
// ([head_dim, context]) and values row by row ([context, head_dim]).
TEST(KvCache, SlotsAreDistinctKeysTransposedValuesContiguous) {
  const ModelConfig c = small_config();
  KvCache cache(c, 10);
  auto key = [](int l, int h, int p, int i) { return static_cast<float>(((l * 2 + h) * 10 + p) * 8 + i); };
  for (int l = 0; l < 3; ++l)
    for (int h = 0; h < 2; ++h)
      for (int p = 0; p < 10; ++p) {
        float k[8], v[8];
        for (int i = 0; i < 8; ++i) {
          k[i] = key(l, h, p, i);
          v[i] = -k[i];
        }
        cache.store(l, h, p, k, v);
      }
  for (int l = 0; l < 3; ++l)
    for (int h = 0; h < 2; ++h)
      for (int p = 0; p < 10; ++p)
        for (int i = 0; i < 8; ++i) {
          ASSERT_EQ(cache.key_at(l, h, p, i), key(l, h, p, i));
          ASSERT_EQ(cache.keys_t(l, h)[i * 10 + p], key(l, h, p, i));
          ASSERT_EQ(cache.values(l, h)[p * 8 + i], -key(l, h, p, i));
        }
}

TEST(KvCache, RejectsContextOutsideTheModelLimit) {
  const ModelConfig c = small_config();
  EXPECT_THROW(KvCache(c, 0), Error);
  EXPECT_THROW(KvCache(c, 65), Error);
  EXPECT_NO_THROW(KvCache(c, 64));
}

}  // namespace
}  // namespace lm
