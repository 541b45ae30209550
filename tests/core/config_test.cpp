#include "config.h"

#include <gtest/gtest.h>

#include "error.h"
#include "test_support.h"

namespace lm {
namespace {

using nlohmann::json;

// Expects from_json(text) to throw an lm::Error of `kind` whose one-line
// message starts with "config.json: " and contains `needle`.
void expect_error(const std::string& text, ErrorKind kind, const std::string& needle) {
  try {
    ModelConfig::from_json(text);
    ADD_FAILURE() << "no error for " << text << "; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.kind(), kind) << msg;
    EXPECT_EQ(msg.rfind("config.json: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message spans lines: " << msg;
  }
}
void expect_format(const std::string& text, const std::string& needle) { expect_error(text, ErrorKind::kFormat, needle); }
void expect_unsupported(const std::string& text, const std::string& needle) {
  expect_error(text, ErrorKind::kUnsupported, needle);
}

// A small valid config with one field replaced (or added).
std::string with(const std::string& key, const json& value) {
  json j = {{"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 2},
            {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"vocab_size", 100}};
  j[key] = value;
  return j.dump();
}

TEST(ConfigTest, ReadsTheStoryConfig) {
  const ModelConfig c = ModelConfig::from_json(test::read_file(test::story_model_dir() / "config.json"));
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.intermediate_size, 384);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 2048);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kNone);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(c.q_dim(), 128);
  EXPECT_EQ(c.kv_dim(), 64);
  EXPECT_TRUE(c.is_eos(2));
  EXPECT_FALSE(c.is_eos(1));
}

TEST(ConfigTest, EmptyObjectGivesLlamaConfigDefaults) {
  const ModelConfig c = ModelConfig::from_json("{}");
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 11008);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 32);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kNone);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
}

TEST(ConfigTest, EosAsAList) {
  const ModelConfig c = ModelConfig::from_json(with("eos_token_id", {128001, 128008, 128009}));
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{128001, 128008, 128009}));
  EXPECT_TRUE(c.is_eos(128008));
  EXPECT_FALSE(c.is_eos(2));
  EXPECT_TRUE(ModelConfig::from_json(with("eos_token_id", json::array())).eos_token_ids.empty());
}

TEST(ConfigTest, NullBosAndEos) {
  json j = json::parse(with("bos_token_id", nullptr));
  j["eos_token_id"] = nullptr;
  const ModelConfig c = ModelConfig::from_json(j.dump());
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_TRUE(c.eos_token_ids.empty());
  EXPECT_FALSE(c.is_eos(2));
}

TEST(ConfigTest, ExplicitHeadDimAndKvHeads) {
  json j = json::parse(with("head_dim", 32));
  j["hidden_size"] = 96;
  j["num_attention_heads"] = 6;
  j["num_key_value_heads"] = 3;
  const ModelConfig c = ModelConfig::from_json(j.dump());
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.q_dim(), 192);
  EXPECT_EQ(c.kv_dim(), 96);

  // head_dim explicit: hidden_size need not divide by the head count.
  json k = json::parse(with("head_dim", 16));
  k["hidden_size"] = 70;
  EXPECT_EQ(ModelConfig::from_json(k.dump()).head_dim, 16);
}

TEST(ConfigTest, NullKvHeadsAndHeadDimAreDerived) {
  json j = json::parse(with("num_key_value_heads", nullptr));
  j["head_dim"] = nullptr;
  const ModelConfig c = ModelConfig::from_json(j.dump());
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
}

TEST(ConfigTest, SupportedArchitectures) {
  EXPECT_EQ(ModelConfig::from_json(with("architectures", {"MistralForCausalLM"})).architecture, "MistralForCausalLM");
  const ModelConfig qwen = ModelConfig::from_json(with("architectures", {"Qwen2ForCausalLM"}));
  EXPECT_EQ(qwen.architecture, "Qwen2ForCausalLM");
  EXPECT_TRUE(qwen.attention_bias);  // q/k/v biases
  EXPECT_FALSE(ModelConfig::from_json(with("architectures", {"LlamaForCausalLM"})).attention_bias);
  EXPECT_TRUE(ModelConfig::from_json(with("attention_bias", true)).attention_bias);
  EXPECT_TRUE(ModelConfig::from_json(with("mlp_bias", true)).mlp_bias);
  EXPECT_EQ(ModelConfig::from_json(with("architectures", nullptr)).architecture, "LlamaForCausalLM");
  EXPECT_EQ(ModelConfig::from_json(with("model_type", "qwen2")).model_type, "qwen2");
}

TEST(ConfigTest, RopeScaling) {
  const ModelConfig lin = ModelConfig::from_json(with("rope_scaling", {{"type", "linear"}, {"factor", 4.0}}));
  EXPECT_EQ(lin.rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_FLOAT_EQ(lin.rope_scaling.factor, 4.0f);

  const ModelConfig l3 = ModelConfig::from_json(with("rope_scaling", {{"rope_type", "llama3"},
                                                                      {"factor", 8.0},
                                                                      {"low_freq_factor", 1.0},
                                                                      {"high_freq_factor", 4.0},
                                                                      {"original_max_position_embeddings", 8192}}));
  EXPECT_EQ(l3.rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_FLOAT_EQ(l3.rope_scaling.factor, 8.0f);
  EXPECT_FLOAT_EQ(l3.rope_scaling.low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(l3.rope_scaling.high_freq_factor, 4.0f);
  EXPECT_EQ(l3.rope_scaling.original_max_position_embeddings, 8192);

  // rope_type wins over the legacy type key.
  const ModelConfig both = ModelConfig::from_json(with("rope_scaling", {{"rope_type", "linear"}, {"type", "yarn"}, {"factor", 2}}));
  EXPECT_EQ(both.rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_FLOAT_EQ(both.rope_scaling.factor, 2.0f);

  EXPECT_EQ(ModelConfig::from_json(with("rope_scaling", {{"rope_type", "default"}})).rope_scaling.type,
            RopeScaling::Type::kNone);
  EXPECT_EQ(ModelConfig::from_json(with("rope_scaling", nullptr)).rope_scaling.type, RopeScaling::Type::kNone);
}

// ------------------------------------------------------------------ errors ---

TEST(ConfigTest, RejectsInvalidJson) {
  expect_format("{\"hidden_size\": ", "invalid JSON");
  expect_format("", "invalid JSON");
  expect_format("[1]", "expected a JSON object");
  expect_format("\"x\"", "expected a JSON object");
}

TEST(ConfigTest, RejectsDeepNesting) {
  expect_format("{\"x\": " + std::string(100, '[') + std::string(100, ']') + "}", "nested deeper than 64");
  expect_format(std::string(1'000'000, '['), "nested deeper than 64");
}

TEST(ConfigTest, RejectsWrongTypesNamingTheField) {
  expect_format(with("hidden_size", "128"), "hidden_size must be an integer, got \"128\"");
  expect_format(with("hidden_size", 128.5), "hidden_size must be an integer");
  expect_format(with("num_hidden_layers", nullptr), "num_hidden_layers must be an integer, got null");
  expect_format(with("vocab_size", json::array()), "vocab_size must be an integer");
  expect_format(with("rms_norm_eps", "1e-6"), "rms_norm_eps must be a number");
  expect_format(with("rope_theta", true), "rope_theta must be a number");
  expect_format(with("tie_word_embeddings", 1), "tie_word_embeddings must be true or false");
  expect_format(with("attention_bias", "false"), "attention_bias must be true or false");
  expect_format(with("hidden_act", 3), "hidden_act must be a string");
  expect_format(with("model_type", nullptr), "model_type must be a string");
  expect_format(with("bos_token_id", "1"), "bos_token_id must be an integer");
  expect_format(with("eos_token_id", {2, "3"}), "eos_token_id must be an integer");
  expect_format(with("eos_token_id", {{"id", 2}}), "eos_token_id must be an integer");
  expect_format(with("architectures", "LlamaForCausalLM"), "architectures must be a non-empty list of strings");
  expect_format(with("architectures", json::array()), "architectures must be a non-empty list");
  expect_format(with("rope_scaling", "linear"), "rope_scaling must be an object or null");
}

TEST(ConfigTest, RejectsOutOfRangeSizes) {
  expect_format(with("hidden_size", 0), "hidden_size = 0 is out of range");
  expect_format(with("intermediate_size", -5), "intermediate_size = -5 is out of range");
  expect_format(with("vocab_size", (1 << 20) + 1), "vocab_size = 1048577 is out of range [1, 1048576]");
  expect_format(with("num_hidden_layers", 1025), "num_hidden_layers = 1025 is out of range [1, 1024]");
  expect_format(with("max_position_embeddings", 18446744073709551615ull), "max_position_embeddings = 18446744073709551615 is out of range");
  expect_format(with("num_attention_heads", -9223372036854775807ll), "num_attention_heads = -9223372036854775807 is out of range");
  expect_format(with("num_key_value_heads", 0), "num_key_value_heads = 0 is out of range");
  expect_format(with("head_dim", 0), "head_dim = 0 is out of range");
  expect_format(with("bos_token_id", -2), "bos_token_id = -2 is out of range");
  expect_format(with("eos_token_id", 4294967296ll), "eos_token_id = 4294967296 is out of range");
  expect_format(with("eos_token_id", {2, -1}), "eos_token_id = -1 is out of range");
  // Each size fits, but their product (q_dim) would not be a sane width.
  json j = json::parse(with("num_attention_heads", 1 << 12));
  j["num_key_value_heads"] = 1;
  j["head_dim"] = 1 << 12;
  expect_format(j.dump(), "num_attention_heads * head_dim (16777216) exceeds 1048576");
}

TEST(ConfigTest, RejectsInconsistentHeads) {
  expect_format(with("num_key_value_heads", 3), "num_attention_heads (4) is not a multiple of num_key_value_heads (3)");
  json j = json::parse(with("hidden_size", 66));
  expect_format(j.dump(), "hidden_size (66) is not a multiple of num_attention_heads (4)");
  expect_format(with("head_dim", 15), "head_dim (15) must be even");
  json odd = json::parse(with("hidden_size", 36));  // 36 / 4 = 9, derived and odd
  expect_format(odd.dump(), "head_dim (9) must be even");
}

TEST(ConfigTest, RejectsNonPositiveEpsAndTheta) {
  expect_format(with("rms_norm_eps", 0), "rms_norm_eps = 0 must be a positive finite number");
  expect_format(with("rms_norm_eps", -1e-5), "rms_norm_eps");
  expect_format(with("rms_norm_eps", 1e-60), "rms_norm_eps");  // underflows to 0 as float
  expect_format(with("rope_theta", -10000.0), "rope_theta = -10000.0 must be a positive");
  expect_format(with("rope_theta", 1e300), "rope_theta");  // overflows float
}

TEST(ConfigTest, RejectsUnsupportedArchitectureAndActivation) {
  expect_unsupported(with("architectures", {"GPT2LMHeadModel"}), "architecture \"GPT2LMHeadModel\" is not supported");
  expect_unsupported(with("architectures", {"MixtralForCausalLM", "LlamaForCausalLM"}), "\"MixtralForCausalLM\"");
  expect_unsupported(with("hidden_act", "gelu"), "hidden_act \"gelu\" is not supported (supported: silu)");
}

TEST(ConfigTest, RejectsBadRopeScaling) {
  expect_unsupported(with("rope_scaling", {{"type", "yarn"}, {"factor", 4.0}}), "rope_scaling type \"yarn\" is not supported");
  expect_unsupported(with("rope_scaling", {{"rope_type", "dynamic"}, {"factor", 2.0}}), "\"dynamic\"");
  expect_format(with("rope_scaling", {{"factor", 2.0}}), "rope_scaling has no \"rope_type\"");
  expect_format(with("rope_scaling", {{"type", 1}}), "rope_scaling type must be a string");
  expect_format(with("rope_scaling", {{"type", "linear"}}), "rope_scaling type \"linear\" needs factor");
  expect_format(with("rope_scaling", {{"type", "linear"}, {"factor", 0}}), "rope_scaling.factor = 0 must be a positive");
  expect_format(with("rope_scaling", {{"type", "linear"}, {"factor", "2"}}), "rope_scaling.factor must be a number");
  const json l3 = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                   {"original_max_position_embeddings", 8192}};
  json missing = l3;
  missing.erase("original_max_position_embeddings");
  expect_format(with("rope_scaling", missing), "needs original_max_position_embeddings");
  json no_low = l3;
  no_low.erase("low_freq_factor");
  expect_format(with("rope_scaling", no_low), "needs low_freq_factor");
  json equal = l3;
  equal["high_freq_factor"] = 1.0;
  expect_format(with("rope_scaling", equal), "high_freq_factor must exceed low_freq_factor");
  json orig = l3;
  orig["original_max_position_embeddings"] = 0;
  expect_format(with("rope_scaling", orig), "rope_scaling.original_max_position_embeddings = 0 is out of range");
}

// ------------------------------------------ architectures beyond Llama ---

// Biases as transformers' modules create them: Llama's attention_bias covers
// q/k/v and o_proj, mlp_bias gate/up/down; Qwen2 has q/k/v biases only;
// Mistral none (its config's bias fields are ignored, as transformers does).
TEST(ConfigTest, BiasesFollowTheArchitecture) {
  json j = json::parse(with("attention_bias", true));
  j["mlp_bias"] = true;
  const ModelConfig llama = ModelConfig::from_json(j.dump());
  EXPECT_TRUE(llama.attention_bias);
  EXPECT_TRUE(llama.o_proj_bias);
  EXPECT_TRUE(llama.mlp_bias);
  j["architectures"] = {"Qwen2ForCausalLM"};
  const ModelConfig qwen = ModelConfig::from_json(j.dump());
  EXPECT_TRUE(qwen.attention_bias);
  EXPECT_FALSE(qwen.o_proj_bias);
  EXPECT_FALSE(qwen.mlp_bias);
  j["architectures"] = {"MistralForCausalLM"};
  const ModelConfig mistral = ModelConfig::from_json(j.dump());
  EXPECT_FALSE(mistral.attention_bias);
  EXPECT_FALSE(mistral.o_proj_bias);
  EXPECT_FALSE(mistral.mlp_bias);
}

TEST(ConfigTest, SlidingWindow) {
  json m = json::parse(with("architectures", {"MistralForCausalLM"}));
  EXPECT_EQ(ModelConfig::from_json(m.dump()).sliding_window, 4096);  // MistralConfig's default
  m["sliding_window"] = nullptr;
  EXPECT_EQ(ModelConfig::from_json(m.dump()).sliding_window, 0);
  m["sliding_window"] = 7;
  EXPECT_EQ(ModelConfig::from_json(m.dump()).sliding_window, 7);
  m["sliding_window"] = 0;
  expect_format(m.dump(), "sliding_window = 0 is out of range");
  // Llama has no sliding window; Qwen2's only applies with use_sliding_window.
  EXPECT_EQ(ModelConfig::from_json(with("sliding_window", 7)).sliding_window, 0);
  json q = json::parse(with("architectures", {"Qwen2ForCausalLM"}));
  q["sliding_window"] = 4096;
  q["use_sliding_window"] = false;
  EXPECT_EQ(ModelConfig::from_json(q.dump()).sliding_window, 0);
  q["use_sliding_window"] = true;
  expect_unsupported(q.dump(), "use_sliding_window = true is not supported");
}

TEST(ConfigTest, RefusesWhatChangesTheMathUnsupported) {
  expect_unsupported(with("quantization_config", {{"quant_method", "gptq"}, {"bits", 4}}), "quantization_config");
  expect_unsupported(with("partial_rotary_factor", 0.5), "partial_rotary_factor = 0.5 is not supported");
  EXPECT_NO_THROW(ModelConfig::from_json(with("partial_rotary_factor", 1.0)));
  EXPECT_NO_THROW(ModelConfig::from_json(with("quantization_config", nullptr)));
  expect_unsupported(with("architectures", {"GemmaForCausalLM"}), "architecture \"GemmaForCausalLM\" is not supported");
}

// transformers 5 writes rope_theta and rope_scaling as one rope_parameters object.
TEST(ConfigTest, RopeParameters) {
  const ModelConfig d = ModelConfig::from_json(with("rope_parameters", {{"rope_type", "default"}, {"rope_theta", 500000.0}}));
  EXPECT_FLOAT_EQ(d.rope_theta, 500000.0f);
  EXPECT_EQ(d.rope_scaling.type, RopeScaling::Type::kNone);
  const ModelConfig l3 = ModelConfig::from_json(with("rope_parameters", {{"rope_type", "llama3"},
                                                                         {"rope_theta", 500000.0},
                                                                         {"factor", 32.0},
                                                                         {"low_freq_factor", 1.0},
                                                                         {"high_freq_factor", 4.0},
                                                                         {"original_max_position_embeddings", 8192}}));
  EXPECT_FLOAT_EQ(l3.rope_theta, 500000.0f);
  EXPECT_EQ(l3.rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_FLOAT_EQ(l3.rope_scaling.factor, 32.0f);
  expect_unsupported(with("rope_parameters", {{"rope_type", "yarn"}, {"factor", 4.0}}), "\"yarn\"");
}

// ------------------------------------------------- generation_config.json ---

TEST(ConfigTest, GenerationConfigDefaultsAndEosIds) {
  ModelConfig c = ModelConfig::from_json(with("eos_token_id", 2));
  c.apply_generation_config(R"({"do_sample": true, "temperature": 0.6, "top_k": 20, "top_p": 0.9,
                                "repetition_penalty": 1.1, "eos_token_id": [2, 7, 9], "max_new_tokens": 100})");
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{2, 7, 9}));  // added to config.json's, no duplicates
  ASSERT_TRUE(c.generation.temperature && c.generation.top_k && c.generation.top_p && c.generation.repetition_penalty);
  EXPECT_FLOAT_EQ(*c.generation.temperature, 0.6f);
  EXPECT_EQ(*c.generation.top_k, 20);
  EXPECT_FLOAT_EQ(*c.generation.top_p, 0.9f);
  EXPECT_FLOAT_EQ(*c.generation.repetition_penalty, 1.1f);

  // do_sample: false is greedy whatever the temperature; absent fields and nulls set nothing.
  ModelConfig g = ModelConfig::from_json(with("eos_token_id", 2));
  g.apply_generation_config(R"({"do_sample": false, "temperature": 0.7, "top_p": null, "eos_token_id": 5})");
  EXPECT_EQ(g.generation.temperature, 0.0f);
  EXPECT_FALSE(g.generation.top_p);
  EXPECT_FALSE(g.generation.top_k);
  EXPECT_EQ(g.eos_token_ids, (std::vector<int>{2, 5}));

  ModelConfig story = ModelConfig::from_json(test::read_file(test::story_model_dir() / "config.json"));
  story.apply_generation_config(test::read_file(test::story_model_dir() / "generation_config.json"));
  EXPECT_FALSE(story.generation.temperature);
  EXPECT_EQ(story.eos_token_ids, std::vector<int>{2});
}

TEST(ConfigTest, GenerationConfigErrorsNameTheFile) {
  for (const auto& [text, needle] : std::vector<std::pair<std::string, std::string>>{
           {"{", "invalid JSON"},
           {"[]", "expected a JSON object"},
           {R"({"top_p": 1.5})", "top_p = 1.5 must be in (0, 1]"},
           {R"({"temperature": -1})", "temperature must be a finite number >= 0"},
           {R"({"top_k": -1})", "top_k = -1 is out of range"},
           {R"({"do_sample": "yes"})", "do_sample must be true or false"},
           {R"({"repetition_penalty": 0})", "repetition_penalty = 0 must be a positive"},
           {R"({"eos_token_id": "2"})", "eos_token_id must be an integer"},
       }) {
    ModelConfig c = ModelConfig::from_json("{}");
    try {
      c.apply_generation_config(text);
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(e.kind(), ErrorKind::kFormat) << msg;
      EXPECT_EQ(msg.rfind("generation_config.json: ", 0), 0u) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    }
  }
}

// The text is refused before parsing when longer than kMaxConfigJsonBytes
// (real files are a few KB), for generation_config.json too.
TEST(ConfigTest, RejectsOversizedText) {
  const std::string big = "{" + std::string(kMaxConfigJsonBytes, ' ') + "}";
  expect_error(big, ErrorKind::kResourceLimit, "at most 1048576");
  ModelConfig c = ModelConfig::from_json("{}");
  try {
    c.apply_generation_config(big);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kResourceLimit) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("generation_config.json: ", 0), 0u) << e.what();
  }
  // Just under the bound is fine.
  EXPECT_EQ(ModelConfig::from_json("{" + std::string(kMaxConfigJsonBytes - 2, ' ') + "}").hidden_size, 4096);
}

}  // namespace
}  // namespace lm
