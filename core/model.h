// Model: a loaded Llama-family checkpoint and its forward pass.
//
// As in llama2.c: the config (ModelConfig), the weights (ModelWeights, read-only
// views into the checkpoint bytes the Model owns) and the activations
// (RunState, one per session, allocated once) are separate plain structs, and
// forward() reads top to bottom like the math. The KV cache (kv_cache.h) also
// belongs to the session, so one Model serves any number of sessions.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "chat.h"
#include "config.h"
#include "kv_cache.h"
#include "model_files.h"
#include "safetensors.h"
#include "tensor.h"
#include "tokenizer.h"

namespace lm {

class ThreadPool;

// Shapes use d = hidden_size, q = num_attention_heads * head_dim,
// kv = num_key_value_heads * head_dim, f = intermediate_size, V = vocab_size.
struct LayerWeights {
  const float* attn_norm = nullptr;  // [d]   input_layernorm
  WeightRef wq;                      // [q, d]  q_proj
  WeightRef wk;                      // [kv, d] k_proj
  WeightRef wv;                      // [kv, d] v_proj
  WeightRef wo;                      // [d, q]  o_proj
  const float* bq = nullptr;         // [q]  q_proj bias (config.attention_bias only)
  const float* bk = nullptr;         // [kv] k_proj bias
  const float* bv = nullptr;         // [kv] v_proj bias
  const float* bo = nullptr;         // [d]  o_proj bias (config.o_proj_bias only)
  const float* ffn_norm = nullptr;   // [d]   post_attention_layernorm
  WeightRef w_gate;                  // [f, d] gate_proj
  WeightRef w_up;                    // [f, d] up_proj
  WeightRef w_down;                  // [d, f] down_proj
  const float* b_gate = nullptr;     // [f] gate_proj bias (config.mlp_bias only)
  const float* b_up = nullptr;       // [f] up_proj bias
  const float* b_down = nullptr;     // [d] down_proj bias

  // The seven matrices, for code that treats them alike (loading, memory figures).
  std::array<WeightRef*, 7> matrices() { return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down}; }
  std::array<const WeightRef*, 7> matrices() const { return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down}; }
};

struct ModelWeights {
  WeightRef embed;                   // [V, d] embed_tokens (the same bytes as lm_head when tied)
  std::vector<LayerWeights> layers;  // [num_hidden_layers]
  const float* final_norm = nullptr; // [d]   model.norm
  WeightRef lm_head;                 // [V, d]
};

// Activations for up to `batch` tokens at once (prefill chunks; decode uses
// one row). Allocated once per session; forward() never allocates.
struct RunState {
  RunState(const ModelConfig& config, int batch, int context_length);

  int batch;                // rows available in the [B, ...] buffers
  Tensor<float> x;          // [B, d]  residual stream
  Tensor<float> xb;         // [B, d]  normalised input of a sub-layer
  Tensor<float> xb2;        // [B, d]  output of o_proj / down_proj
  Tensor<float> q;          // [B, q]
  Tensor<float> k;          // [B, kv]
  Tensor<float> v;          // [B, kv]
  Tensor<float> att;        // [B, q]  attention output, heads concatenated
  Tensor<float> hb;         // [B, f]  gate, then silu(gate) * up
  Tensor<float> hb2;        // [B, f]  up
  Tensor<float> scores;     // [n_heads, context_length] attention weights of one token
  Tensor<float> rope_cos;   // [B, head_dim / 2]
  Tensor<float> rope_sin;   // [B, head_dim / 2]
  Tensor<float> logits;     // [V]  of the last token of the latest forward()

  size_t bytes() const;
};

// What to do with the checkpoint's weight dtype at load.
enum class WeightFormat {
  kAsStored,  // use F32 / F16 / BF16 tensors in place; an F32 matrix whose values are all
              // bf16 values is narrowed to bf16 in place (lossless, half the bytes per token)
  kF32,       // convert every matrix to f32
  kBF16,      // convert every matrix to bf16
  kQ8,        // quantize every matrix to int8 with one scale per 32 values of a row
              // (matrices whose rows are not a multiple of 32 stay as stored)
};

struct LoadOptions {
  WeightFormat weight_format = WeightFormat::kAsStored;
};

// What a model will need in memory, known before its weights are read: from
// config.json and the checkpoint's total size. Figures in bytes.
struct MemoryEstimate {
  uint64_t weights = 0;   // resident weights after load (stored, or converted)
  uint64_t load_peak = 0; // weights while loading (the checkpoint; + the converted copy when converting to a wider dtype)
  uint64_t kv_cache = 0;  // one session's KV cache for `context_length` positions
  uint64_t scratch = 0;   // activations, logits and sampler buffers of one session
  uint64_t total() const { return std::max(load_peak, weights) + kv_cache + scratch; }
};
MemoryEstimate estimate_memory(const ModelConfig& config, uint64_t checkpoint_bytes, const LoadOptions& options,
                               int context_length, int batch);

class Model {
 public:
  // Parses and validates the inputs (generation_config.json too, when given:
  // see ModelConfig::apply_generation_config) and builds the weight views.
  // Takes ownership of the shard bytes. Every weight's presence, dtype and shape is
  // checked against the config; a mismatch names the tensor, expected and
  // actual shapes. Throws lm::Error.
  static std::shared_ptr<const Model> load(ModelFiles files, const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const ModelWeights& weights() const { return weights_; }
  int64_t parameter_count() const { return parameter_count_; }
  size_t weight_bytes() const;  // bytes of weight memory held (checkpoint + converted)
  // Bytes of weights one decode step reads: every matrix (lm_head once when
  // tied) in the form the kernels use; less than weight_bytes() when matrices
  // were narrowed in place or converted copies left other bytes unread.
  size_t weight_bytes_per_token() const;

  // The chat template from tokenizer_config.json. Throws lm::Error naming
  // the problem when the model has none or one lm-wasm does not recognize
  // (the model itself still loads: plain generation does not need it).
  const ChatTemplate& chat_template() const;
  bool has_chat_template() const { return chat_template_.has_value(); }

  // Runs tokens (n <= state.batch) at positions pos .. pos+n-1: writes their
  // keys and values into `cache` and the last token's logits into
  // state.logits. With config.sliding_window = W > 0, the token at position p
  // attends to positions max(0, p + 1 - W) .. p only (transformers' sliding
  // window mask). Requires pos + n <= cache.context_length() and ids in
  // [0, vocab_size); throws lm::Error(kInvalidArgument) otherwise.
  void forward(std::span<const int32_t> tokens, int pos, KvCache& cache, RunState& state,
               ThreadPool* pool = nullptr) const;

 private:
  Model(ModelConfig config, Tokenizer tokenizer);
  void bind_weights(const Checkpoint& checkpoint, const LoadOptions& options);
  std::byte* mutable_checkpoint_bytes(const void* p);
  void compact_shards();
  std::vector<WeightRef*> matrix_views();

  ModelConfig config_;
  Tokenizer tokenizer_;
  std::vector<ModelShard> shards_;             // the checkpoint bytes the views point into
  std::vector<Tensor<float>> owned_f32_;       // norms, biases, and converted / realigned f32 matrices
  std::vector<Tensor<uint16_t>> owned_16_;     // converted bf16 matrices
  std::vector<Tensor<int8_t>> owned_8_;        // quantized Q8 matrices (their scales are in owned_f32_)
  std::vector<double> inv_freq_;               // [head_dim / 2] RoPE frequencies after rope_scaling
  std::optional<ChatTemplate> chat_template_;
  std::string chat_template_problem_;          // why there is none, for chat_template()
  ModelWeights weights_;
  int64_t parameter_count_ = 0;
};

}  // namespace lm
