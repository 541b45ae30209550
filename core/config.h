// ModelConfig: the architecture hyper-parameters read from a Hugging Face config.json.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lm {

// rope_scaling from config.json; kNone when absent or null.
struct RopeScaling {
  enum class Type { kNone, kLinear, kLlama3 };
  Type type = Type::kNone;
  float factor = 1.0f;                         // linear and llama3
  float low_freq_factor = 1.0f;                // llama3
  float high_freq_factor = 4.0f;               // llama3
  int original_max_position_embeddings = 8192; // llama3
};

// Field names and defaults follow transformers' LlamaConfig: a field absent
// from config.json takes the value LlamaConfig would give it.
struct ModelConfig {
  std::string architecture = "LlamaForCausalLM";  // architectures[0]
  std::string model_type = "llama";
  int hidden_size = 4096;
  int intermediate_size = 11008;
  int num_hidden_layers = 32;
  int num_attention_heads = 32;
  int num_key_value_heads = 0;  // absent -> num_attention_heads
  int head_dim = 0;             // absent -> hidden_size / num_attention_heads
  int vocab_size = 32000;
  int max_position_embeddings = 2048;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v/o biases (Qwen2 sets q/k/v biases)
  bool mlp_bias = false;
  int bos_token_id = 1;               // -1 when config.json says null
  std::vector<int> eos_token_ids{2};  // eos_token_id: a number or a list; empty when null
  std::string hidden_act = "silu";

  // Parses and validates config.json text. Throws lm::Error(kFormat) naming
  // "config.json" and the field for malformed JSON, wrong types or
  // out-of-range values, and kUnsupported for an architecture, activation or
  // rope_scaling type lm-wasm does not implement.
  static ModelConfig from_json(std::string_view json_text);

  int kv_dim() const { return num_key_value_heads * head_dim; }  // width of k_proj / v_proj output
  int q_dim() const { return num_attention_heads * head_dim; }   // width of q_proj output
  bool is_eos(int id) const;
};

}  // namespace lm
