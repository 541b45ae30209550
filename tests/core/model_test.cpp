// The forward pass against the float64 reference (../shared/golden), the
// KV cache against full recomputation, and the loader's checks.
#include "model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "error.h"
#include "ops.h"
#include "test_support.h"
#include "thread_pool.h"

namespace lm {
namespace {

using test::TensorBytes;

std::string story_file(const std::string& name) { return test::read_file(test::story_model_dir() / name); }

Blob blob_of(const std::string& bytes) {
  Blob b = Blob::allocate(bytes.size());
  std::memcpy(b.data(), bytes.data(), bytes.size());
  return b;
}

ModelFiles files_of(const std::string& config, const std::string& tokenizer, const std::string& safetensors) {
  ModelFiles f;
  f.config_json = config;
  f.tokenizer_json = tokenizer;
  f.shards.push_back({"model.safetensors", blob_of(safetensors)});
  return f;
}

std::shared_ptr<const Model> story_model(const LoadOptions& options = {}) {
  return Model::load(read_model_dir(test::story_model_dir()), options);
}

// Logits of the last token after running `ids` through a fresh cache, in chunks of `batch`.
std::vector<float> last_logits(const Model& m, const std::vector<int32_t>& ids, int batch = 128,
                               ThreadPool* pool = nullptr) {
  KvCache cache(m.config(), m.config().max_position_embeddings);
  RunState state(m.config(), batch, cache.context_length());
  for (size_t i = 0; i < ids.size(); i += static_cast<size_t>(batch)) {
    const size_t n = std::min(ids.size() - i, static_cast<size_t>(batch));
    m.forward({ids.data() + i, n}, static_cast<int>(i), cache, state, pool);
  }
  return {state.logits.data(), state.logits.data() + m.config().vocab_size};
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b, size_t* where = nullptr) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::fabs(a[i] - b[i]) > m) {
      m = std::fabs(a[i] - b[i]);
      if (where) *where = i;
    }
  return m;
}

size_t argmax_of(const std::vector<float>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

void expect_load_error(ModelFiles files, ErrorKind kind, std::initializer_list<std::string> needles) {
  try {
    Model::load(std::move(files));
    ADD_FAILURE() << "loaded without error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(Model, LoadsTheStoryModel) {
  auto m = story_model();
  EXPECT_EQ(m->config().hidden_size, 128);
  EXPECT_EQ(m->weights().layers.size(), 2u);
  // Tied: only lm_head.weight is stored, and the embedding reads the same bytes.
  EXPECT_EQ(m->weights().embed.data, m->weights().lm_head.data);
  // 2048*128 (tied) + 2 layers * (128*128*2 + 64*128*2 + 384*128*3 + 2*128) + 128
  EXPECT_EQ(m->parameter_count(), 2048 * 128 + 2 * (128 * 128 * 2 + 64 * 128 * 2 + 384 * 128 * 3 + 256) + 128);
}

TEST(Model, LogitsMatchTheFloat64Reference) {
  const nlohmann::json golden = test::read_json(test::golden_path("story-logits.json"));
  auto m = story_model();
  for (const auto& c : golden["cases"]) {
    const std::vector<float> want = c["logits"].get<std::vector<float>>();
    const std::vector<float> got = last_logits(*m, c["prompt_ids"].get<std::vector<int32_t>>());
    size_t where = 0;
    const float diff = max_abs_diff(got, want, &where);
    EXPECT_LE(diff, 1e-4f) << c["name"] << ": max abs diff " << diff << " at id " << where;
    EXPECT_EQ(argmax_of(got), c["argmax"].get<size_t>()) << c["name"];
  }
}

// The top-10 logits of the first three greedy steps of every golden case.
TEST(Model, FirstStepsTopLogitsMatchTheReference) {
  const nlohmann::json golden = test::read_json(test::golden_path("story-greedy.json"));
  auto m = story_model();
  for (const auto& c : golden["cases"]) {
    std::vector<int32_t> ids = c["prompt_ids"];
    const std::vector<int32_t> generated = c["generated_ids"];
    for (size_t step = 0; step < c["top10_first3_steps"].size(); ++step) {
      const std::vector<float> logits = last_logits(*m, ids);
      for (const auto& pair : c["top10_first3_steps"][step]) {
        const int id = pair[0];
        EXPECT_NEAR(logits[static_cast<size_t>(id)], pair[1].get<double>(), 1e-4) << c["name"] << " step " << step << " id " << id;
      }
      EXPECT_EQ(argmax_of(logits), static_cast<size_t>(c["top10_first3_steps"][step][0][0].get<int>()));
      ids.push_back(generated[step]);
    }
  }
}

// Decoding one token at a time against the cache gives exactly the logits of
// recomputing the whole sequence, and prefill chunking does not matter either.
TEST(Model, KvCacheDecodeEqualsFullRecompute) {
  auto m = story_model();
  const nlohmann::json golden = test::read_json(test::golden_path("story-greedy.json"));
  std::vector<int32_t> ids = golden["cases"][0]["prompt_ids"];
  const std::vector<int32_t> generated = golden["cases"][0]["generated_ids"];
  ids.insert(ids.end(), generated.begin(), generated.begin() + 30);

  KvCache cache(m->config(), 64);
  RunState state(m->config(), 1, 64);
  for (size_t i = 0; i < ids.size(); ++i) {
    m->forward({&ids[i], 1}, static_cast<int>(i), cache, state);
    if (i < 3 && i + 1 != ids.size()) continue;
    const std::vector<float> decoded(state.logits.data(), state.logits.data() + 2048);
    const std::vector<int32_t> prefix(ids.begin(), ids.begin() + static_cast<long>(i) + 1);
    EXPECT_EQ(decoded, last_logits(*m, prefix)) << "position " << i << ": max diff "
                                                << max_abs_diff(decoded, last_logits(*m, prefix));
  }
  EXPECT_EQ(last_logits(*m, ids, 7), last_logits(*m, ids, 128)) << "chunked prefill differs";
  if (ThreadPool::threads_available()) {
    ThreadPool pool(2);
    EXPECT_EQ(last_logits(*m, ids, 128, &pool), last_logits(*m, ids, 128)) << "threads change the result";
  }
}

// A tied checkpoint may store the embedding under either name.
TEST(Model, TiedEmbeddingsStoredUnderEitherName) {
  std::map<std::string, std::string> metadata;
  std::vector<TensorBytes> tensors = test::read_safetensors_tensors(test::story_model_dir() / "model.safetensors", &metadata);
  for (TensorBytes& t : tensors)
    if (t.name == "lm_head.weight") t.name = "model.embed_tokens.weight";
  auto renamed = Model::load(files_of(story_file("config.json"), story_file("tokenizer.json"), test::safetensors_bytes(tensors)));
  const std::vector<int32_t> ids = {1, 80, 147, 201, 282, 57};
  EXPECT_EQ(last_logits(*renamed, ids), last_logits(*story_model(), ids));
}

// F16 / BF16 checkpoints load in place; their logits stay close to f32 and,
// on the golden prompt, pick the same token.
TEST(Model, HalfPrecisionCheckpoints) {
  const std::vector<TensorBytes> f32 = test::read_safetensors_tensors(test::story_model_dir() / "model.safetensors");
  const std::vector<int32_t> ids = {1, 80, 147, 201, 282, 57};
  const std::vector<float> reference = last_logits(*story_model(), ids);
  for (const std::string dtype : {"BF16", "F16"}) {
    std::vector<TensorBytes> half = f32;
    for (TensorBytes& t : half) {
      std::string bytes(t.bytes.size() / 2, '\0');
      for (size_t i = 0; i < t.bytes.size() / 4; ++i) {
        float v;
        std::memcpy(&v, t.bytes.data() + 4 * i, 4);
        const uint16_t h = dtype == "BF16" ? f32_to_bf16(v) : f32_to_f16(v);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
      t.dtype = dtype;
      t.bytes = bytes;
    }
    auto m = Model::load(files_of(story_file("config.json"), story_file("tokenizer.json"), test::safetensors_bytes(half)));
    EXPECT_EQ(m->weights().layers[0].wq.dtype, dtype == "BF16" ? DType::kBF16 : DType::kF16);
    const std::vector<float> got = last_logits(*m, ids);
    EXPECT_LT(max_abs_diff(got, reference), dtype == "BF16" ? 0.5f : 0.05f) << dtype;
    EXPECT_EQ(argmax_of(got), argmax_of(reference)) << dtype;
    // Converting an f32 checkpoint to bf16 at load gives exactly the bf16 checkpoint's logits.
    if (dtype == "BF16") {
      LoadOptions to_bf16;
      to_bf16.weight_format = WeightFormat::kBF16;
      auto converted = story_model(to_bf16);
      EXPECT_EQ(converted->weights().layers[0].w_up.dtype, DType::kBF16);
      EXPECT_EQ(last_logits(*converted, ids), got);
    }
  }
}

// bf16 and int8 weights (converted / quantized at load): logit error against
// f32 and greedy agreement at every step of the golden stories, printed for
// the record (README, Performance). (The story model's f32 weights are all
// bf16 values: bf16 holds them exactly, and differs from f32 only in the
// order its kernel sums products.)
// The story checkpoint is F32 but every value is a bf16 value: loaded as
// stored, its matrices are narrowed to bf16 in place, losing nothing (the
// logits are those of an explicit bf16 conversion) and adding no copy. A
// matrix with one value that is not a bf16 value stays f32.
TEST(Model, F32MatricesOfBf16ValuesAreNarrowedInPlace) {
  const std::vector<int32_t> ids = {1, 80, 147, 201, 282, 57};
  auto as_stored = story_model();
  for (const LayerWeights& L : as_stored->weights().layers)
    for (const WeightRef* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      EXPECT_EQ(w->dtype, DType::kBF16);
  EXPECT_EQ(as_stored->weights().lm_head.dtype, DType::kBF16);
  EXPECT_EQ(as_stored->weights().embed.data, as_stored->weights().lm_head.data);  // still tied, one copy
  const size_t checkpoint_bytes = std::filesystem::file_size(test::story_model_dir() / "model.safetensors");
  // Narrowed in place, then packed: about half the checkpoint stays allocated.
  EXPECT_LT(as_stored->weight_bytes(), checkpoint_bytes * 55 / 100);

  LoadOptions to_bf16, to_f32;
  to_bf16.weight_format = WeightFormat::kBF16;
  to_f32.weight_format = WeightFormat::kF32;
  const std::vector<float> narrowed = last_logits(*as_stored, ids);
  EXPECT_EQ(narrowed, last_logits(*story_model(to_bf16), ids));
  auto f32 = story_model(to_f32);
  EXPECT_EQ(f32->weights().layers[0].wq.dtype, DType::kF32);
  EXPECT_EQ(2 * as_stored->weight_bytes_per_token(), f32->weight_bytes_per_token());  // decode reads half the bytes
  EXPECT_LT(max_abs_diff(narrowed, last_logits(*f32, ids)), 1e-4f);  // the same values, summed in another order

  std::vector<TensorBytes> tensors = test::read_safetensors_tensors(test::story_model_dir() / "model.safetensors");
  for (TensorBytes& t : tensors)
    if (t.name == "model.layers.1.mlp.up_proj.weight") t.bytes[0] = static_cast<char>(t.bytes[0] ^ 1);  // low mantissa bit
  auto mixed = Model::load(files_of(story_file("config.json"), story_file("tokenizer.json"), test::safetensors_bytes(tensors)));
  EXPECT_EQ(mixed->weights().layers[1].w_up.dtype, DType::kF32);
  EXPECT_EQ(mixed->weights().layers[1].w_down.dtype, DType::kBF16);
  EXPECT_LT(max_abs_diff(last_logits(*mixed, ids), narrowed), 1e-3f);
}

// Conversions to a narrower dtype at load write over the checkpoint's own
// bytes, row by row, and the shard is then packed: every matrix holds exactly
// what converting its f32 values one by one gives, and the memory held is
// that of the converted weights, not checkpoint + copy.
TEST(Model, ConversionsAtLoadWriteOverTheCheckpointAndPackIt) {
  const std::vector<TensorBytes> tensors = test::read_safetensors_tensors(test::story_model_dir() / "model.safetensors");
  const size_t checkpoint_bytes = std::filesystem::file_size(test::story_model_dir() / "model.safetensors");
  auto f32_of = [&](const std::string& name) {
    for (const TensorBytes& t : tensors)
      if (t.name == name) {
        std::vector<float> v(t.bytes.size() / 4);
        std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
        return v;
      }
    ADD_FAILURE() << name;
    return std::vector<float>{};
  };
  struct Matrix {
    const char* name;
    const WeightRef* (*of)(const ModelWeights&);
  };
  const Matrix matrices[] = {
      {"lm_head.weight", [](const ModelWeights& w) { return &w.lm_head; }},
      {"model.layers.0.self_attn.q_proj.weight", [](const ModelWeights& w) { return &w.layers[0].wq; }},
      {"model.layers.1.mlp.down_proj.weight", [](const ModelWeights& w) { return &w.layers[1].w_down; }},
  };
  for (WeightFormat format : {WeightFormat::kBF16, WeightFormat::kQ8}) {
    LoadOptions o;
    o.weight_format = format;
    auto m = story_model(o);
    for (const Matrix& matrix : matrices) {
      const WeightRef& w = *matrix.of(m->weights());
      const std::vector<float> values = f32_of(matrix.name);
      const int64_t rows = w.rows(), cols = w.cols();
      ASSERT_EQ(values.size(), static_cast<size_t>(rows * cols)) << matrix.name;
      if (format == WeightFormat::kBF16) {
        ASSERT_EQ(w.dtype, DType::kBF16);
        const auto* got = static_cast<const uint16_t*>(w.data);
        for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(got[i], f32_to_bf16(values[i])) << matrix.name << " " << i;
      } else {
        ASSERT_EQ(w.dtype, DType::kQ8);
        std::vector<int8_t> q(static_cast<size_t>(cols));
        std::vector<float> scales(static_cast<size_t>(cols / kQ8Group));
        for (int64_t r = 0; r < rows; ++r) {
          quantize_q8(values.data() + r * cols, cols, q.data(), scales.data());
          ASSERT_EQ(std::memcmp(q.data(), static_cast<const int8_t*>(w.data) + r * cols, q.size()), 0) << matrix.name << " row " << r;
          ASSERT_EQ(std::memcmp(scales.data(), w.scales + r * (cols / kQ8Group), scales.size() * sizeof(float)), 0)
              << matrix.name << " row " << r;
        }
      }
    }
    // Held: the converted matrices (+ norms, + Q8 scales), not the checkpoint beside them.
    const double ratio = static_cast<double>(m->weight_bytes()) / static_cast<double>(checkpoint_bytes);
    EXPECT_LT(ratio, format == WeightFormat::kBF16 ? 0.55 : 0.33) << dtype_name(format == WeightFormat::kBF16 ? DType::kBF16 : DType::kQ8);
  }
}

// The estimate made before the weights are read (from config.json and the
// checkpoint's size) bounds what loading then holds, for every format.
TEST(Model, MemoryEstimateBoundsWhatLoadingHolds) {
  const ModelConfig config = ModelConfig::from_json(story_file("config.json"));
  const uint64_t checkpoint_bytes = std::filesystem::file_size(test::story_model_dir() / "model.safetensors");
  const uint64_t params = static_cast<uint64_t>(story_model()->parameter_count());
  for (WeightFormat format : {WeightFormat::kAsStored, WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kQ8}) {
    LoadOptions o;
    o.weight_format = format;
    const MemoryEstimate e = estimate_memory(config, checkpoint_bytes, o, 512, 128);
    EXPECT_GE(e.weights, story_model(o)->weight_bytes() * 95 / 100) << static_cast<int>(format);
    EXPECT_GE(e.load_peak, e.weights) << static_cast<int>(format);
    // The F32 checkpoint converts in place to bf16 and q8: no second copy at the peak.
    if (format == WeightFormat::kBF16 || format == WeightFormat::kQ8) {
      EXPECT_LE(e.load_peak, checkpoint_bytes + params / kQ8Group * 4) << static_cast<int>(format);
    }
  }
}

TEST(Model, Bf16AndQ8WeightsStayCloseToF32) {
  LoadOptions to_f32;
  to_f32.weight_format = WeightFormat::kF32;
  auto reference = story_model(to_f32);
  const nlohmann::json golden = test::read_json(test::golden_path("story-greedy.json"));
  struct Format {
    WeightFormat format;
    DType dtype;
    const char* name;
    float max_error;
  };
  for (const Format& f : {Format{WeightFormat::kBF16, DType::kBF16, "bf16", 0.5f}, Format{WeightFormat::kQ8, DType::kQ8, "q8", 1.0f}}) {
    LoadOptions options;
    options.weight_format = f.format;
    auto converted = story_model(options);
    EXPECT_EQ(converted->weights().layers[1].w_down.dtype, f.dtype) << f.name;
    EXPECT_LT(converted->weight_bytes(), reference->weight_bytes() / (f.dtype == DType::kQ8 ? 3 : 1)) << f.name;
    float worst = 0;
    int agree = 0, total = 0;
    for (const auto& c : golden["cases"]) {
      std::vector<int32_t> ids = c["prompt_ids"];
      for (int32_t next : c["generated_ids"].get<std::vector<int32_t>>()) {
        const std::vector<float> a = last_logits(*converted, ids), b = last_logits(*reference, ids);
        worst = std::max(worst, max_abs_diff(a, b));
        agree += argmax_of(a) == argmax_of(b);
        ++total;
        ids.push_back(next);
      }
    }
    std::printf("[%s vs f32] max |logit diff| %.4f, greedy agreement %d/%d\n", f.name, worst, agree, total);
    EXPECT_LT(worst, f.max_error) << f.name;
    EXPECT_GE(agree, total * 9 / 10) << f.name;
  }
}

TEST(Model, ShapeMismatchNamesTensorAndBothShapes) {
  nlohmann::json config = nlohmann::json::parse(story_file("config.json"));
  config["intermediate_size"] = 383;
  expect_load_error(files_of(config.dump(), story_file("tokenizer.json"), story_file("model.safetensors")),
                    ErrorKind::kFormat, {"model.layers.0.mlp.gate_proj.weight", "[384, 128]", "[383, 128]"});
  config = nlohmann::json::parse(story_file("config.json"));
  config["num_key_value_heads"] = 8;
  expect_load_error(files_of(config.dump(), story_file("tokenizer.json"), story_file("model.safetensors")),
                    ErrorKind::kFormat, {"k_proj", "[64, 128]", "[128, 128]"});
}

// A config far larger than its weights (hidden and intermediate 2^20 against
// the story model's 656K parameters) fails at the first shape check, before
// anything sized by the config is allocated.
TEST(Model, ConfigFarLargerThanTheWeightsFailsAtTheShapeCheck) {
  nlohmann::json config = nlohmann::json::parse(story_file("config.json"));
  config["hidden_size"] = 1 << 20;
  config["intermediate_size"] = 1 << 20;
  config["max_position_embeddings"] = 1 << 20;
  expect_load_error(files_of(config.dump(), story_file("tokenizer.json"), story_file("model.safetensors")),
                    ErrorKind::kFormat, {"[2048, 128]", "[2048, 1048576]"});
}

// Found by fuzzing (fuzz/regressions/model): half-precision tensors whose
// bytes are not 2-byte aligned (the data section starts at 8 + header
// length) were read through uint16_t pointers when converted at load:
// undefined behaviour (UBSan: misaligned load). They load and give the same
// logits as the aligned file.
TEST(Model, MisalignedHalfPrecisionTensorsLoad) {
  std::vector<TensorBytes> half = test::read_safetensors_tensors(test::story_model_dir() / "model.safetensors");
  for (TensorBytes& t : half) {
    std::string bytes(t.bytes.size() / 2, '\0');
    for (size_t i = 0; i < t.bytes.size() / 4; ++i) {
      float v;
      std::memcpy(&v, t.bytes.data() + 4 * i, 4);
      const uint16_t h = f32_to_f16(v);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
    t.dtype = "F16";
    t.bytes = bytes;
  }
  const std::string aligned = test::safetensors_bytes(half);
  // One more header byte (a space) moves the whole data section by one.
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(aligned[static_cast<size_t>(i)]);
  std::string misaligned = aligned;
  misaligned.insert(8 + n, " ");
  for (int i = 0; i < 8; ++i) misaligned[static_cast<size_t>(i)] = static_cast<char>(((n + 1) >> (8 * i)) & 0xff);

  const std::vector<int32_t> ids = {1, 80, 147, 201, 282, 57};
  const auto reference =
      last_logits(*Model::load(files_of(story_file("config.json"), story_file("tokenizer.json"), aligned)), ids);
  for (WeightFormat format : {WeightFormat::kAsStored, WeightFormat::kF32, WeightFormat::kQ8}) {
    LoadOptions o;
    o.weight_format = format;
    ModelFiles files = files_of(story_file("config.json"), story_file("tokenizer.json"), misaligned);
    auto m = Model::load(std::move(files), o);
    if (format == WeightFormat::kAsStored) EXPECT_EQ(last_logits(*m, ids), reference);
    else EXPECT_EQ(argmax_of(last_logits(*m, ids)), argmax_of(reference));
  }
}

TEST(Model, MissingUnexpectedAndUntiedTensors) {
  const std::vector<TensorBytes> all = test::read_safetensors_tensors(test::story_model_dir() / "model.safetensors");
  std::vector<TensorBytes> missing;
  for (const TensorBytes& t : all)
    if (t.name != "model.norm.weight") missing.push_back(t);
  expect_load_error(files_of(story_file("config.json"), story_file("tokenizer.json"), test::safetensors_bytes(missing)),
                    ErrorKind::kFormat, {"missing tensor 'model.norm.weight'"});

  std::vector<TensorBytes> extra = all;
  extra.push_back({"model.layers.0.self_attn.q_norm.weight", "F32", {16}, std::string(64, '\0')});
  expect_load_error(files_of(story_file("config.json"), story_file("tokenizer.json"), test::safetensors_bytes(extra)),
                    ErrorKind::kUnsupported, {"q_norm"});

  nlohmann::json untied = nlohmann::json::parse(story_file("config.json"));
  untied["tie_word_embeddings"] = false;
  std::vector<TensorBytes> embed_only = all;
  for (TensorBytes& t : embed_only)
    if (t.name == "lm_head.weight") t.name = "model.embed_tokens.weight";
  expect_load_error(files_of(untied.dump(), story_file("tokenizer.json"), test::safetensors_bytes(embed_only)),
                    ErrorKind::kFormat, {"lm_head.weight"});
}

TEST(Model, RejectsWrongDtypeAndTokenizerLargerThanVocab) {
  std::vector<TensorBytes> all = test::read_safetensors_tensors(test::story_model_dir() / "model.safetensors");
  for (TensorBytes& t : all)
    if (t.name == "model.norm.weight") {
      t.dtype = "I32";
    }
  expect_load_error(files_of(story_file("config.json"), story_file("tokenizer.json"), test::safetensors_bytes(all)),
                    ErrorKind::kUnsupported, {"model.norm.weight", "I32"});

  nlohmann::json config = nlohmann::json::parse(story_file("config.json"));
  config["vocab_size"] = 1000;
  expect_load_error(files_of(config.dump(), story_file("tokenizer.json"), story_file("model.safetensors")),
                    ErrorKind::kFormat, {"tokenizer.json", "2048", "1000"});
}

// A sliding window (Mistral) as wide as the context changes nothing; a
// narrow one changes only positions past it, identically whether the prompt
// is run in one chunk, in small chunks or one token at a time.
TEST(Model, SlidingWindowAttention) {
  nlohmann::json config = nlohmann::json::parse(story_file("config.json"));
  config["architectures"] = {"MistralForCausalLM"};
  auto mistral = [&](int window) {
    config["sliding_window"] = window;
    return Model::load(files_of(config.dump(), story_file("tokenizer.json"), story_file("model.safetensors")));
  };
  const std::vector<int32_t> ids = {1, 80, 147, 201, 282, 57, 99, 140, 305, 12};
  const auto wide = mistral(512);
  EXPECT_EQ(wide->config().sliding_window, 512);
  EXPECT_EQ(last_logits(*wide, ids), last_logits(*story_model(), ids));

  const auto narrow = mistral(4);
  const std::vector<int32_t> short_ids(ids.begin(), ids.begin() + 4);
  EXPECT_EQ(last_logits(*narrow, short_ids), last_logits(*story_model(), short_ids));
  const std::vector<float> full = last_logits(*story_model(), ids), windowed = last_logits(*narrow, ids);
  EXPECT_GT(max_abs_diff(windowed, full), 0.01f) << "the window had no effect";
  EXPECT_EQ(last_logits(*narrow, ids, 3), windowed) << "chunked prefill differs";
  KvCache cache(narrow->config(), 16);
  RunState state(narrow->config(), 1, 16);
  for (size_t i = 0; i < ids.size(); ++i) narrow->forward({&ids[i], 1}, static_cast<int>(i), cache, state);
  EXPECT_EQ(std::vector<float>(state.logits.data(), state.logits.data() + 2048), windowed) << "decoding differs";
}

// attention_bias (Llama) needs o_proj biases too; mlp_bias gate/up/down biases.
TEST(Model, BiasTensorsAreRequiredAsTheConfigSays) {
  std::vector<TensorBytes> tensors = test::read_safetensors_tensors(test::story_model_dir() / "model.safetensors");
  nlohmann::json config = nlohmann::json::parse(story_file("config.json"));
  config["attention_bias"] = true;
  for (int l = 0; l < 2; ++l)
    for (const auto& [name, n] : std::vector<std::pair<std::string, int>>{{"q_proj", 128}, {"k_proj", 64}, {"v_proj", 64}})
      tensors.push_back({"model.layers." + std::to_string(l) + ".self_attn." + name + ".bias", "F32", {n}, std::string(4 * n, '\0')});
  expect_load_error(files_of(config.dump(), story_file("tokenizer.json"), test::safetensors_bytes(tensors)),
                    ErrorKind::kFormat, {"missing tensor 'model.layers.0.self_attn.o_proj.bias'"});
  // The same tensors are a Qwen2 checkpoint: q/k/v biases and no o_proj bias.
  config["architectures"] = {"Qwen2ForCausalLM"};
  const auto qwen = Model::load(files_of(config.dump(), story_file("tokenizer.json"), test::safetensors_bytes(tensors)));
  EXPECT_NE(qwen->weights().layers[1].bv, nullptr);
  EXPECT_EQ(qwen->weights().layers[1].bo, nullptr);
  // Zero biases change nothing.
  const std::vector<int32_t> ids = {1, 80, 147, 201, 282, 57};
  EXPECT_EQ(last_logits(*qwen, ids), last_logits(*story_model(), ids));

  nlohmann::json mlp = nlohmann::json::parse(story_file("config.json"));
  mlp["mlp_bias"] = true;
  expect_load_error(files_of(mlp.dump(), story_file("tokenizer.json"), story_file("model.safetensors")), ErrorKind::kFormat,
                    {"missing tensor 'model.layers.0.mlp.gate_proj.bias'"});
}

// generation_config.json is read from the model folder and applied at load.
TEST(Model, GenerationConfigIsOptionalAndApplied) {
  ModelFiles files = read_model_dir(test::story_model_dir());
  ASSERT_TRUE(files.generation_config_json.has_value());
  files.generation_config_json = R"({"eos_token_id": [2, 3], "do_sample": false})";
  const auto m = Model::load(std::move(files));
  EXPECT_EQ(m->config().eos_token_ids, (std::vector<int>{2, 3}));
  EXPECT_EQ(m->config().generation.temperature, 0.0f);

  ModelFiles none = files_of(story_file("config.json"), story_file("tokenizer.json"), story_file("model.safetensors"));
  EXPECT_FALSE(none.generation_config_json.has_value());
  EXPECT_FALSE(Model::load(std::move(none))->config().generation.temperature.has_value());

  ModelFiles broken = files_of(story_file("config.json"), story_file("tokenizer.json"), story_file("model.safetensors"));
  broken.generation_config_json = R"({"top_k": "many"})";
  expect_load_error(std::move(broken), ErrorKind::kFormat, {"generation_config.json", "top_k"});
}

TEST(Model, ForwardRejectsBadTokensAndPositions) {
  auto m = story_model();
  KvCache cache(m->config(), 8);
  RunState state(m->config(), 4, 8);
  const std::vector<int32_t> bad = {1, 2048};
  EXPECT_THROW(m->forward(bad, 0, cache, state), Error);
  const std::vector<int32_t> neg = {-1};
  EXPECT_THROW(m->forward(neg, 0, cache, state), Error);
  const std::vector<int32_t> ok = {1, 2, 3};
  EXPECT_THROW(m->forward(ok, 6, cache, state), Error);  // past the context
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  EXPECT_THROW(m->forward(five, 0, cache, state), Error);  // more than the batch
  EXPECT_NO_THROW(m->forward(ok, 5, cache, state));
}

}  // namespace
}  // namespace lm
