#include "config.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

#include "error.h"

namespace lm {
namespace {

using json = nlohmann::json;

constexpr int kMaxJsonDepth = 64;     // config.json is 2-3 levels deep
constexpr int64_t kMaxSize = 1 << 20;  // any width, count or length: keeps products of two within int64
constexpr int64_t kMaxLayers = 1024;

[[noreturn]] void fail(ErrorKind kind, const std::string& problem) { throw Error(kind, "config.json: " + problem); }
[[noreturn]] void bad(const std::string& problem) { fail(ErrorKind::kFormat, problem); }

// A short rendering of a value from the file for an error message: one line, bounded.
std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', /*ensure_ascii=*/true);
  if (s.size() > 60) s = s.substr(0, 60) + "...";
  return s;
}

json parse_bounded(std::string_view text) {
  if (text.size() > kMaxConfigJsonBytes)
    fail(ErrorKind::kResourceLimit, "the file has " + std::to_string(text.size()) + " bytes; at most " + std::to_string(kMaxConfigJsonBytes) +
        " are accepted");
  auto callback = [](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      bad("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    std::string w = e.what();  // drop nlohmann's "[json.exception.parse_error.101] " prefix
    if (!w.empty() && w[0] == '[' && w.find("] ") != std::string::npos) w.erase(0, w.find("] ") + 2);
    for (char& c : w)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    bad("invalid JSON: " + w);
  }
}

// Field readers. An absent field keeps the caller's default; a field present
// with the wrong type or out of range is an error naming it.
const json* field(const json& obj, const char* name) {
  const auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

int64_t as_int(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) bad(name + " must be an integer, got " + shown(v));
  // Compare in the value's own signedness so huge unsigned values are not wrapped.
  bool in_range;
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(hi) && static_cast<int64_t>(u) >= lo;
  } else {
    const auto s = v.get<int64_t>();
    in_range = s >= lo && s <= hi;
  }
  if (!in_range)
    bad(name + " = " + shown(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v.get<int64_t>();
}

void read_int(const json& obj, const char* name, int* out, int64_t lo, int64_t hi) {
  if (const json* v = field(obj, name)) *out = static_cast<int>(as_int(*v, name, lo, hi));
}

// A float field that must be finite and > 0 once stored as float.
float as_positive_float(const json& v, const std::string& name) {
  if (!v.is_number()) bad(name + " must be a number, got " + shown(v));
  const auto f = static_cast<float>(v.get<double>());
  if (!std::isfinite(f) || !(f > 0.0f)) bad(name + " = " + shown(v) + " must be a positive finite number");
  return f;
}

void read_positive_float(const json& obj, const char* name, float* out) {
  if (const json* v = field(obj, name)) *out = as_positive_float(*v, name);
}

void read_bool(const json& obj, const char* name, bool* out) {
  if (const json* v = field(obj, name)) {
    if (!v->is_boolean()) bad(std::string(name) + " must be true or false, got " + shown(*v));
    *out = v->get<bool>();
  }
}

void read_string(const json& obj, const char* name, std::string* out) {
  if (const json* v = field(obj, name)) {
    if (!v->is_string()) bad(std::string(name) + " must be a string, got " + shown(*v));
    *out = v->get<std::string>();
  }
}

constexpr int64_t kMaxTokenId = std::numeric_limits<int>::max();

RopeScaling read_rope_scaling(const json& v) {
  RopeScaling rs;
  if (v.is_null()) return rs;
  if (!v.is_object()) bad("rope_scaling must be an object or null, got " + shown(v));
  // transformers prefers "rope_type" and falls back to the older "type".
  const json* type = field(v, "rope_type");
  if (!type) type = field(v, "type");
  if (!type) bad("rope_scaling has no \"rope_type\" (or \"type\")");
  if (!type->is_string()) bad("rope_scaling type must be a string, got " + shown(*type));
  const std::string& t = type->get_ref<const std::string&>();

  auto required_float = [&](const char* name) {
    const json* f = field(v, name);
    if (!f) bad("rope_scaling type \"" + t + "\" needs " + name);
    return as_positive_float(*f, std::string("rope_scaling.") + name);
  };
  if (t == "default") return rs;
  if (t == "linear") {
    rs.type = RopeScaling::Type::kLinear;
    rs.factor = required_float("factor");
  } else if (t == "llama3") {
    rs.type = RopeScaling::Type::kLlama3;
    rs.factor = required_float("factor");
    rs.low_freq_factor = required_float("low_freq_factor");
    rs.high_freq_factor = required_float("high_freq_factor");
    // The llama3 ramp divides by (high - low).
    if (!(rs.high_freq_factor > rs.low_freq_factor))
      bad("rope_scaling.high_freq_factor must exceed low_freq_factor");
    const json* orig = field(v, "original_max_position_embeddings");
    if (!orig) bad("rope_scaling type \"llama3\" needs original_max_position_embeddings");
    rs.original_max_position_embeddings =
        static_cast<int>(as_int(*orig, "rope_scaling.original_max_position_embeddings", 1, kMaxSize));
  } else {
    fail(ErrorKind::kUnsupported,
         "rope_scaling type " + shown(*type) + " is not supported (supported: default, linear, llama3)");
  }
  return rs;
}

// partial_rotary_factor < 1 rotates only part of each head: not implemented.
void reject_partial_rotary(const json& obj) {
  if (const json* v = field(obj, "partial_rotary_factor"); v && !v->is_null()) {
    if (!v->is_number() || v->get<double>() != 1.0)
      fail(ErrorKind::kUnsupported, "partial_rotary_factor = " + shown(*v) + " is not supported (only 1.0)");
  }
}

// eos_token_id: a number, a list of numbers, or null (none).
std::vector<int> read_eos_ids(const json& v) {
  std::vector<int> ids;
  if (v.is_array()) {
    for (const json& id : v) ids.push_back(static_cast<int>(as_int(id, "eos_token_id", 0, kMaxTokenId)));
  } else if (!v.is_null()) {
    ids.push_back(static_cast<int>(as_int(v, "eos_token_id", 0, kMaxTokenId)));
  }
  return ids;
}

}  // namespace

ModelConfig ModelConfig::from_json(std::string_view json_text) {
  const json j = parse_bounded(json_text);
  if (!j.is_object()) bad("expected a JSON object, got " + std::string(j.type_name()));

  ModelConfig c;
  if (const json* archs = field(j, "architectures"); archs && !archs->is_null()) {
    if (!archs->is_array() || archs->empty() || !(*archs)[0].is_string())
      bad("architectures must be a non-empty list of strings, got " + shown(*archs));
    c.architecture = (*archs)[0].get<std::string>();
  }
  if (c.architecture != "LlamaForCausalLM" && c.architecture != "MistralForCausalLM" &&
      c.architecture != "Qwen2ForCausalLM")
    fail(ErrorKind::kUnsupported, "architecture " + shown(json(c.architecture)) +
                                      " is not supported (supported: LlamaForCausalLM, MistralForCausalLM, "
                                      "Qwen2ForCausalLM)");
  read_string(j, "model_type", &c.model_type);

  read_int(j, "hidden_size", &c.hidden_size, 1, kMaxSize);
  read_int(j, "intermediate_size", &c.intermediate_size, 1, kMaxSize);
  read_int(j, "num_hidden_layers", &c.num_hidden_layers, 1, kMaxLayers);
  read_int(j, "num_attention_heads", &c.num_attention_heads, 1, kMaxSize);
  read_int(j, "vocab_size", &c.vocab_size, 1, kMaxSize);
  read_int(j, "max_position_embeddings", &c.max_position_embeddings, 1, kMaxSize);

  // null means "derive it", as in transformers.
  c.num_key_value_heads = c.num_attention_heads;
  if (const json* v = field(j, "num_key_value_heads"); v && !v->is_null())
    c.num_key_value_heads = static_cast<int>(as_int(*v, "num_key_value_heads", 1, kMaxSize));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    bad("num_attention_heads (" + std::to_string(c.num_attention_heads) + ") is not a multiple of num_key_value_heads (" +
        std::to_string(c.num_key_value_heads) + ")");
  if (const json* v = field(j, "head_dim"); v && !v->is_null()) {
    c.head_dim = static_cast<int>(as_int(*v, "head_dim", 1, kMaxSize));
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      bad("hidden_size (" + std::to_string(c.hidden_size) + ") is not a multiple of num_attention_heads (" +
          std::to_string(c.num_attention_heads) + ")");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) bad("head_dim (" + std::to_string(c.head_dim) + ") must be even for RoPE");
  // q_dim() and kv_dim() return int; keep them (and buffers sized by them) small.
  if (int64_t{c.num_attention_heads} * c.head_dim > kMaxSize)
    bad("num_attention_heads * head_dim (" + std::to_string(int64_t{c.num_attention_heads} * c.head_dim) +
        ") exceeds " + std::to_string(kMaxSize));

  read_positive_float(j, "rms_norm_eps", &c.rms_norm_eps);
  read_positive_float(j, "rope_theta", &c.rope_theta);
  if (const json* v = field(j, "rope_scaling")) c.rope_scaling = read_rope_scaling(*v);
  // transformers 5 writes both as one "rope_parameters" object.
  if (const json* v = field(j, "rope_parameters"); v && !v->is_null()) {
    if (!v->is_object()) bad("rope_parameters must be an object or null, got " + shown(*v));
    read_positive_float(*v, "rope_theta", &c.rope_theta);
    if (field(*v, "rope_type") || field(*v, "type")) c.rope_scaling = read_rope_scaling(*v);
    reject_partial_rotary(*v);
  }
  reject_partial_rotary(j);

  read_bool(j, "tie_word_embeddings", &c.tie_word_embeddings);
  // Which projections have biases depends on the architecture, as in
  // transformers: LlamaAttention gives q/k/v/o_proj bias=attention_bias and
  // LlamaMLP gate/up/down_proj bias=mlp_bias; Qwen2Attention always has q/k/v
  // biases and never an o_proj bias; Mistral has no biases (the fields are
  // ignored there, as transformers ignores them).
  if (c.architecture == "LlamaForCausalLM") {
    read_bool(j, "attention_bias", &c.attention_bias);
    read_bool(j, "mlp_bias", &c.mlp_bias);
    c.o_proj_bias = c.attention_bias;
  } else if (c.architecture == "Qwen2ForCausalLM") {
    c.attention_bias = true;
  }

  // Sliding-window attention. Mistral: sliding_window (MistralConfig's
  // default 4096 when absent; null = none). Qwen2: only with
  // use_sliding_window, which lm-wasm does not implement (it applies to some
  // layers only). Llama has none.
  if (c.architecture == "MistralForCausalLM") {
    c.sliding_window = 4096;
    if (const json* v = field(j, "sliding_window"))
      c.sliding_window = v->is_null() ? 0 : static_cast<int>(as_int(*v, "sliding_window", 1, kMaxSize));
  } else if (c.architecture == "Qwen2ForCausalLM") {
    bool use_sliding_window = false;
    read_bool(j, "use_sliding_window", &use_sliding_window);
    if (use_sliding_window)
      fail(ErrorKind::kUnsupported,
           "use_sliding_window = true is not supported (Qwen2 sliding-window attention on some layers)");
  }

  // Quantized checkpoints (GPTQ, AWQ, bitsandbytes...) store other tensors.
  if (const json* v = field(j, "quantization_config"); v && !v->is_null())
    fail(ErrorKind::kUnsupported, "quantization_config " + shown(*v) +
                                      " is not supported (lm-wasm loads F32, F16 and BF16 weights; its own q8 "
                                      "quantizes at load)");

  read_string(j, "hidden_act", &c.hidden_act);
  if (c.hidden_act != "silu")
    fail(ErrorKind::kUnsupported, "hidden_act " + shown(json(c.hidden_act)) + " is not supported (supported: silu)");

  // Token ids are only checked to be non-negative ints, not against
  // vocab_size: the tokenizer, not config.json, is authoritative for them.
  if (const json* v = field(j, "bos_token_id"))
    c.bos_token_id = v->is_null() ? -1 : static_cast<int>(as_int(*v, "bos_token_id", 0, kMaxTokenId));
  if (const json* v = field(j, "eos_token_id")) c.eos_token_ids = read_eos_ids(*v);
  return c;
}

void ModelConfig::apply_generation_config(std::string_view json_text) {
  // The field readers above name config.json; name this file instead.
  try {
    const json j = parse_bounded(json_text);
    if (!j.is_object()) bad("expected a JSON object, got " + std::string(j.type_name()));
    auto present = [&](const char* name) -> const json* {
      const json* v = field(j, name);
      return v && !v->is_null() ? v : nullptr;
    };
    GenerationDefaults g;
    std::vector<int> eos = eos_token_ids;
    if (const json* v = present("eos_token_id"))
      for (int id : read_eos_ids(*v))
        if (std::find(eos.begin(), eos.end(), id) == eos.end()) eos.push_back(id);
    if (const json* v = present("temperature")) {
      if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < 0)
        bad("temperature must be a finite number >= 0, got " + shown(*v));
      g.temperature = static_cast<float>(v->get<double>());
    }
    // transformers samples only when do_sample is true: false means greedy.
    // (Absent, it keeps lm-wasm's sampling default rather than transformers'
    // greedy one.)
    if (const json* v = present("do_sample")) {
      if (!v->is_boolean()) bad("do_sample must be true or false, got " + shown(*v));
      if (!v->get<bool>()) g.temperature = 0.0f;
    }
    if (const json* v = present("top_k")) g.top_k = static_cast<int>(as_int(*v, "top_k", 0, kMaxTokenId));
    if (const json* v = present("top_p")) {
      const float p = as_positive_float(*v, "top_p");
      if (p > 1.0f) bad("top_p = " + shown(*v) + " must be in (0, 1]");
      g.top_p = p;
    }
    if (const json* v = present("repetition_penalty")) g.repetition_penalty = as_positive_float(*v, "repetition_penalty");
    eos_token_ids = std::move(eos);  // only once the whole file is valid
    generation = g;
  } catch (const Error& e) {
    std::string m = e.what();
    const std::string prefix = "config.json: ";
    if (m.rfind(prefix, 0) == 0) m = "generation_config.json: " + m.substr(prefix.size());
    throw Error(e.kind(), m);
  }
}

bool ModelConfig::is_eos(int id) const {
  return std::find(eos_token_ids.begin(), eos_token_ids.end(), id) != eos_token_ids.end();
}

}  // namespace lm
