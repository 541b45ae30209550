// ModelConfig: the architecture hyper-parameters read from a Hugging Face config.json.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lm {

// config.json and generation_config.json are a few KB; longer text is refused before parsing.
inline constexpr size_t kMaxConfigJsonBytes = size_t{1} << 20;

// rope_scaling from config.json; kNone when absent or null.
struct RopeScaling {
  enum class Type { kNone, kLinear, kLlama3 };
  Type type = Type::kNone;
  float factor = 1.0f;                         // linear and llama3
  float low_freq_factor = 1.0f;                // llama3
  float high_freq_factor = 4.0f;               // llama3
  int original_max_position_embeddings = 8192; // llama3
};

// Sampling defaults from generation_config.json: each is set only when the
// file gives it (do_sample: false sets temperature 0, i.e. greedy). The
// caller's options win; what neither gives keeps lm-wasm's own default.
struct GenerationDefaults {
  std::optional<float> temperature;
  std::optional<int> top_k;
  std::optional<float> top_p;
  std::optional<float> repetition_penalty;
};

// Field names and defaults follow transformers' LlamaConfig (MistralConfig,
// Qwen2Config for those architectures): a field absent from config.json takes
// the value transformers would give it.
//
// Supported: LlamaForCausalLM (attention_bias: q/k/v/o biases; mlp_bias:
// gate/up/down biases), MistralForCausalLM (no biases; sliding_window),
// Qwen2ForCausalLM (q/k/v biases, no o_proj bias; use_sliding_window must be
// false). Anything that would change the math in a way lm-wasm does not
// implement is refused with kUnsupported naming the field.
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
  bool attention_bias = false;  // q/k/v_proj biases (Llama: attention_bias; Qwen2: always; Mistral: never)
  bool o_proj_bias = false;     // o_proj bias (Llama: attention_bias; Qwen2 and Mistral: never)
  bool mlp_bias = false;        // gate/up/down_proj biases (Llama: mlp_bias; others: never)
  int sliding_window = 0;       // attend to the last sliding_window positions only; 0 = no window
  int bos_token_id = 1;               // -1 when config.json says null
  std::vector<int> eos_token_ids{2};  // eos_token_id: a number or a list; empty when null
  std::string hidden_act = "silu";
  GenerationDefaults generation;      // from generation_config.json (apply_generation_config)

  // Parses and validates config.json text. Throws lm::Error(kFormat) naming
  // "config.json" and the field for malformed JSON, wrong types or
  // out-of-range values, and kUnsupported for an architecture, activation or
  // rope_scaling type lm-wasm does not implement.
  static ModelConfig from_json(std::string_view json_text);

  // Merges generation_config.json text (an optional file): its eos_token_id
  // (a number or a list) is added to eos_token_ids, and do_sample,
  // temperature, top_k, top_p and repetition_penalty become `generation`.
  // null values count as absent. Throws lm::Error(kFormat) naming
  // "generation_config.json" and the field for malformed JSON or values.
  void apply_generation_config(std::string_view json_text);

  int kv_dim() const { return num_key_value_heads * head_dim; }  // width of k_proj / v_proj output
  int q_dim() const { return num_attention_heads * head_dim; }   // width of q_proj output
  bool is_eos(int id) const;
};

}  // namespace lm
