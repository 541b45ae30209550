// The Embind boundary: marshalling between JS values and core/, nothing else.
//
// Ownership: a Buffer owns bytes written from JS (the only copy of the
// weights) until Model.load takes them; a Model owns its lm::Model through a
// shared_ptr that each Session also holds, so JS may delete them in any order.
// Every binding that can fail runs inside guard(), which turns a C++
// exception into a JS Error (message, and `code` = the lm::ErrorKind name).
// Bindings take strings as emscripten::val: embind leaks the wire copy of a
// std::string argument when the call throws.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <malloc.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "generator.h"
#include "machine.h"
#include "model.h"
#include "model_files.h"
#include "simd.h"
#include "thread_pool.h"

using emscripten::val;

namespace {

[[noreturn]] void throw_js_error(const std::string& message, const char* code) {
  val error = val::global("Error").new_(val(message));
  error.set("code", val(code));
  error.throw_();
}

// Runs f; a C++ exception becomes a JS Error thrown after the C++ one is gone.
template <class F>
decltype(auto) guard(F&& f) {
  std::string message;
  const char* code = "internal";
  try {
    return f();
  } catch (const lm::Error& e) {
    message = e.what();
    code = lm::error_kind_name(e.kind());
  } catch (const std::bad_alloc&) {
    message = "out of memory (the WebAssembly heap is limited to 4 GiB)";
    code = lm::error_kind_name(lm::ErrorKind::kResourceLimit);
  } catch (const std::exception& e) {
    message = e.what();
  }
  throw_js_error(message, code);
}

// ----------------------------------------------------------- marshalling ---

std::string string_of(const val& v, const char* what) {
  if (!v.isString()) throw lm::Error(lm::ErrorKind::kInvalidArgument, std::string(what) + " must be a string");
  return v.as<std::string>();
}

bool has(const val& obj, const char* key) { return !obj[key].isUndefined() && !obj[key].isNull(); }

double number_of(const val& obj, const char* key) {
  const val v = obj[key];
  if (!v.isNumber()) throw lm::Error(lm::ErrorKind::kInvalidArgument, std::string(key) + " must be a number");
  return v.as<double>();
}

int int_of(const val& obj, const char* key) {
  const double d = number_of(obj, key);
  if (!(std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 2147483647.0))
    throw lm::Error(lm::ErrorKind::kInvalidArgument, std::string(key) + " must be an integer");
  return static_cast<int>(d);
}

bool bool_of(const val& obj, const char* key) {
  const val v = obj[key];
  if (v.typeOf().as<std::string>() != "boolean")
    throw lm::Error(lm::ErrorKind::kInvalidArgument, std::string(key) + " must be true or false");
  return v.as<bool>();
}

lm::WeightFormat weight_format_of(const std::string& w) {
  if (w == "auto") return lm::WeightFormat::kAsStored;
  if (w == "f32") return lm::WeightFormat::kF32;
  if (w == "bf16") return lm::WeightFormat::kBF16;
  if (w == "q8") return lm::WeightFormat::kQ8;
  throw lm::Error(lm::ErrorKind::kInvalidArgument, "weights must be auto, f32, bf16 or q8");
}

// Options given in `o` override `g` (the model's defaults).
lm::GenerationOptions generation_options(const val& o, lm::GenerationOptions g) {
  if (o.isUndefined() || o.isNull()) return g;
  lm::SamplerOptions& s = g.sampling;
  if (has(o, "maxTokens")) g.max_tokens = int_of(o, "maxTokens");
  if (has(o, "temperature")) s.temperature = static_cast<float>(number_of(o, "temperature"));
  if (has(o, "topK")) s.top_k = int_of(o, "topK");
  if (has(o, "topP")) s.top_p = static_cast<float>(number_of(o, "topP"));
  if (has(o, "repetitionPenalty")) s.repetition_penalty = static_cast<float>(number_of(o, "repetitionPenalty"));
  if (has(o, "repetitionLastN")) s.repetition_last_n = int_of(o, "repetitionLastN");
  if (has(o, "topLogprobs")) s.top_logprobs = int_of(o, "topLogprobs");
  if (has(o, "logprobs")) s.logprobs = bool_of(o, "logprobs");
  if (has(o, "seed")) {
    const double seed = number_of(o, "seed");
    if (!(seed >= 0 && seed <= 9007199254740991.0 && seed == std::floor(seed)))
      throw lm::Error(lm::ErrorKind::kInvalidArgument, "seed must be an integer between 0 and 2^53 - 1");
    s.seed = static_cast<uint64_t>(seed);
  }
  if (has(o, "ignoreEos")) g.ignore_eos = bool_of(o, "ignoreEos");
  if (has(o, "truncatePrompt")) g.truncate_prompt = bool_of(o, "truncatePrompt");
  if (has(o, "addSpecialTokens")) g.add_special_tokens = bool_of(o, "addSpecialTokens");
  if (has(o, "stop")) {
    const val stop = o["stop"];
    if (!val::global("Array").call<bool>("isArray", stop))
      throw lm::Error(lm::ErrorKind::kInvalidArgument, "stop must be an array of strings");
    const int n = stop["length"].as<int>();
    for (int i = 0; i < n; ++i) g.stop.push_back(string_of(stop[i], "each stop string"));
  }
  return g;
}

std::vector<int32_t> ids_of(const val& ids) {
  if (!val::global("Array").call<bool>("isArray", ids) && !ids.instanceof(val::global("Int32Array")))
    throw lm::Error(lm::ErrorKind::kInvalidArgument, "ids must be an array of integers");
  std::vector<int32_t> out;
  const int n = ids["length"].as<int>();
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const val v = ids[i];
    const double d = v.isNumber() ? v.as<double>() : NAN;
    if (!(d == std::floor(d) && std::fabs(d) <= 2147483647.0))
      throw lm::Error(lm::ErrorKind::kInvalidArgument, "ids must be an array of integers");
    out.push_back(static_cast<int32_t>(d));
  }
  return out;
}

val array_of(std::span<const int32_t> ids) {
  val a = val::array();
  for (size_t i = 0; i < ids.size(); ++i) a.set(i, ids[i]);
  return a;
}

// ------------------------------------------------------------- classes ---

class Buffer {
 public:
  explicit Buffer(double size) : blob_(guard([&] {
    if (!(size >= 0 && size <= 4294967295.0 && size == std::floor(size)))
      throw lm::Error(lm::ErrorKind::kInvalidArgument, "buffer size must be an integer number of bytes");
    return lm::Blob::allocate(static_cast<size_t>(size));
  })) {}

  double size() const { return static_cast<double>(blob_.size()); }

  // Copies a Uint8Array into the buffer at `offset` (one copy, no JS-side staging).
  void write(val bytes, double offset) {
    guard([&] {
      const double n = bytes["length"].as<double>();
      if (!(offset >= 0 && offset + n <= static_cast<double>(blob_.size())))
        throw lm::Error(lm::ErrorKind::kInvalidArgument, "write past the end of the buffer");
      val(emscripten::typed_memory_view(static_cast<size_t>(n), reinterpret_cast<uint8_t*>(blob_.data()) +
                                                                     static_cast<size_t>(offset)))
          .call<void>("set", bytes);
    });
  }

  lm::Blob take() { return std::move(blob_); }

 private:
  lm::Blob blob_;
};

class Model {
 public:
  // files: { config: string, tokenizer?: string (tokenizer.json) | tokenizerModel?: Buffer (tokenizer.model),
  //          generationConfig?: string, tokenizerConfig?: string,
  //          shards: [{name: string, buffer: Buffer}] }
  // options: { weights: "auto" | "f32" | "bf16", threads: number }
  static Model* load(val files, val options) {
    return guard([&] {
      lm::ModelFiles mf;
      mf.config_json = string_of(files["config"], "config");
      if (has(files, "tokenizer")) mf.tokenizer_json = string_of(files["tokenizer"], "tokenizer");
      if (has(files, "tokenizerModel")) mf.tokenizer_model = files["tokenizerModel"].as<Buffer&>().take();
      if (has(files, "generationConfig"))
        mf.generation_config_json = string_of(files["generationConfig"], "generationConfig");
      if (has(files, "tokenizerConfig"))
        mf.tokenizer_config_json = string_of(files["tokenizerConfig"], "tokenizerConfig");
      const val shards = files["shards"];
      const int n = shards["length"].as<int>();
      for (int i = 0; i < n; ++i)
        mf.shards.push_back({string_of(shards[i]["name"], "shard name"), shards[i]["buffer"].as<Buffer&>().take()});
      lm::LoadOptions lo;
      int threads = 1;
      if (!options.isUndefined() && !options.isNull()) {
        if (has(options, "weights")) lo.weight_format = weight_format_of(string_of(options["weights"], "weights"));
        if (has(options, "threads")) threads = int_of(options, "threads");
      }
      auto pool = std::make_unique<lm::ThreadPool>(threads);
      return new Model(lm::Model::load(std::move(mf), lo), std::move(pool));
    });
  }

  val info() const {
    const lm::ModelConfig& c = model_->config();
    val v = val::object();
    v.set("architecture", c.architecture);
    v.set("hiddenSize", c.hidden_size);
    v.set("intermediateSize", c.intermediate_size);
    v.set("layers", c.num_hidden_layers);
    v.set("heads", c.num_attention_heads);
    v.set("kvHeads", c.num_key_value_heads);
    v.set("headDim", c.head_dim);
    v.set("vocabSize", c.vocab_size);
    v.set("maxContext", c.max_position_embeddings);
    v.set("parameters", static_cast<double>(model_->parameter_count()));
    v.set("weightBytes", static_cast<double>(model_->weight_bytes()));
    v.set("weightBytesPerToken", static_cast<double>(model_->weight_bytes_per_token()));
    v.set("weightDtype", lm::dtype_name(model_->weights().lm_head.dtype));
    v.set("bosId", c.bos_token_id);
    v.set("eosIds", array_of(c.eos_token_ids));
    v.set("slidingWindow", c.sliding_window);
    v.set("chatTemplate", model_->has_chat_template() ? val(model_->chat_template().name()) : val::null());
    // Sampling defaults: lm-wasm's, with generation_config.json's in place.
    const lm::SamplerOptions d = lm::default_generation_options(*model_).sampling;
    val defaults = val::object();
    defaults.set("temperature", d.temperature);
    defaults.set("topK", d.top_k);
    defaults.set("topP", d.top_p);
    defaults.set("repetitionPenalty", d.repetition_penalty);
    v.set("generationDefaults", defaults);
    v.set("simd", lm::simd::backend_name());
    v.set("threads", pool_->size());
    return v;
  }

  val tokenize(val text, val add_special) const {
    return guard([&] {
      return array_of(model_->tokenizer().encode(string_of(text, "text"), add_special.isUndefined() || add_special.as<bool>()));
    });
  }

  val detokenize(val ids, val skip_special) const {
    return guard([&] {
      return val(model_->tokenizer().decode(ids_of(ids), skip_special.isUndefined() || skip_special.as<bool>()));
    });
  }

  std::shared_ptr<const lm::Model> shared() const { return model_; }
  std::shared_ptr<lm::ThreadPool> pool() const { return pool_; }

 private:
  Model(std::shared_ptr<const lm::Model> m, std::unique_ptr<lm::ThreadPool> pool)
      : model_(std::move(m)), pool_(std::move(pool)) {}
  std::shared_ptr<const lm::Model> model_;
  std::shared_ptr<lm::ThreadPool> pool_;  // shared with sessions: JS may delete the Model first
};

class Session {
 public:
  // options: { contextLength, batch }
  static Session* create(const Model& model, val options) {
    return guard([&] {
      lm::GeneratorConfig cfg;
      if (!options.isUndefined() && !options.isNull()) {
        if (has(options, "contextLength")) cfg.context_length = int_of(options, "contextLength");
        if (has(options, "batch")) cfg.batch = int_of(options, "batch");
      }
      return new Session(model, cfg);
    });
  }

  void start(val prompt, val options) {
    guard([&] {
      const lm::GenerationOptions o = generation_options(options, lm::default_generation_options(gen_.model()));
      if (prompt.isString()) {
        gen_.start(prompt.as<std::string>(), o);
      } else {
        const std::vector<int32_t> ids = ids_of(prompt);
        gen_.start_ids(ids, o);
      }
    });
  }

  // messages: [{ role, content }]
  void chat(val messages, val options) {
    guard([&] {
      if (!val::global("Array").call<bool>("isArray", messages))
        throw lm::Error(lm::ErrorKind::kInvalidArgument, "chat: messages must be an array of { role, content }");
      std::vector<lm::ChatMessage> list;
      const int n = messages["length"].as<int>();
      for (int i = 0; i < n; ++i) {
        const val m = messages[i];
        if (m.typeOf().as<std::string>() != "object" || m.isNull())
          throw lm::Error(lm::ErrorKind::kInvalidArgument, "chat: each message must be an object { role, content }");
        list.push_back({string_of(m["role"], "message role"), string_of(m["content"], "message content")});
      }
      gen_.start_chat(list, generation_options(options, lm::default_generation_options(gen_.model())));
    });
  }

  // { kind: "prefill", done, total } | { kind: "token", id, text, logprob, top?, last } | { kind: "done" }
  val next() {
    return guard([&] {
      const lm::Generator::Step s = gen_.step(event_);
      val v = val::object();
      if (s == lm::Generator::Step::kPrefill) {
        v.set("kind", val("prefill"));
        v.set("done", gen_.prefill_done());
        v.set("total", gen_.stats().prompt_tokens);
      } else if (s == lm::Generator::Step::kToken) {
        v.set("kind", val("token"));
        v.set("id", event_.id);
        v.set("text", event_.text);
        if (event_.has_logprob) v.set("logprob", event_.logprob);
        if (!event_.top.empty()) {
          val top = val::array();
          for (size_t i = 0; i < event_.top.size(); ++i) {
            val t = val::array();
            t.set(0, event_.top[i].id);
            t.set(1, event_.top[i].logprob);
            top.set(i, t);
          }
          v.set("top", top);
        }
        v.set("last", event_.last);
      } else {
        v.set("kind", val("done"));
      }
      return v;
    });
  }

  // Runs the whole generation, calling onToken(chunk) per token; returns result().
  val generate(val prompt, val options, val on_token) {
    start(prompt, options);
    for (;;) {
      val chunk = next();
      const std::string kind = chunk["kind"].as<std::string>();
      if (kind == "done") break;
      if (kind == "token" && !on_token.isUndefined()) on_token(chunk);
    }
    return result();
  }

  void cancel() { gen_.cancel(); }
  void reset() { gen_.cancel(); }  // the cache is refilled by every start(): ending the generation is a full reset

  val tokenize(val text, val add_special) const { return model_.tokenize(text, add_special); }
  val detokenize(val ids, val skip_special) const { return model_.detokenize(ids, skip_special); }

  val result() const {
    const lm::GenerationStats& s = gen_.stats();
    val v = val::object();
    v.set("reason", val(lm::stop_reason_name(gen_.stop_reason())));
    v.set("promptIds", array_of(gen_.prompt_ids()));
    v.set("ids", array_of(gen_.generated_ids()));
    v.set("text", gen_.text());
    val stats = val::object();
    stats.set("promptTokens", s.prompt_tokens);
    stats.set("generatedTokens", s.generated_tokens);
    stats.set("prefillMs", s.prefill_ms);
    stats.set("timeToFirstTokenMs", s.time_to_first_token_ms);
    stats.set("decodeMs", s.decode_ms);
    stats.set("prefillTokensPerS", s.prefill_tokens_per_s());
    stats.set("decodeTokensPerS", s.decode_tokens_per_s());
    v.set("stats", stats);
    return v;
  }

  int context_length() const { return gen_.context_length(); }
  double memory_bytes() const { return static_cast<double>(gen_.memory_bytes()); }

 private:
  Session(const Model& model, const lm::GeneratorConfig& cfg)
      : model_(model), pool_(model.pool()), gen_(model.shared(), cfg, pool_.get()) {
    event_.text.reserve(256);
    event_.top.reserve(20);
  }
  Model model_;                          // a copy: shares the lm::Model and the pool
  std::shared_ptr<lm::ThreadPool> pool_;
  lm::Generator gen_;
  lm::TokenEvent event_;
};

// { weights, loadPeak, kvCache, scratch, total } in bytes, before any weight is read.
// options: { weights, contextLength }
val estimate_memory(val config_json, double checkpoint_bytes, val options) {
  return guard([&] {
    const lm::ModelConfig config = lm::ModelConfig::from_json(string_of(config_json, "config"));
    lm::LoadOptions lo;
    lm::GeneratorConfig gc;
    if (!options.isUndefined() && !options.isNull()) {
      if (has(options, "weights")) lo.weight_format = weight_format_of(string_of(options["weights"], "weights"));
      if (has(options, "contextLength")) gc.context_length = int_of(options, "contextLength");
    }
    const lm::MemoryEstimate e = lm::estimate_memory(config, static_cast<uint64_t>(checkpoint_bytes), lo,
                                                     gc.resolved_context(config), gc.resolved_batch(config));
    val v = val::object();
    v.set("weights", static_cast<double>(e.weights));
    v.set("loadPeak", static_cast<double>(e.load_peak));
    v.set("kvCache", static_cast<double>(e.kv_cache));
    v.set("scratch", static_cast<double>(e.scratch));
    v.set("total", static_cast<double>(e.total()));
    v.set("contextLength", gc.resolved_context(config));
    return v;
  });
}

// Size of the wasm memory, and the part malloc has handed out (leak tests, memory stats).
double memory_bytes() { return static_cast<double>(__builtin_wasm_memory_size(0)) * 65536.0; }
double heap_in_use() { return static_cast<double>(mallinfo().uordblks); }

}  // namespace

EMSCRIPTEN_BINDINGS(lm_wasm) {
  using namespace emscripten;
  class_<Buffer>("Buffer").constructor<double>().function("size", &Buffer::size).function("write", &Buffer::write);
  class_<Model>("Model")
      .class_function("load", &Model::load, allow_raw_pointers())
      .function("info", &Model::info)
      .function("tokenize", &Model::tokenize)
      .function("detokenize", &Model::detokenize);
  class_<Session>("Session")
      .class_function("create", &Session::create, allow_raw_pointers())
      .function("start", &Session::start)
      .function("chat", &Session::chat)
      .function("next", &Session::next)
      .function("generate", &Session::generate)
      .function("cancel", &Session::cancel)
      .function("reset", &Session::reset)
      .function("tokenize", &Session::tokenize)
      .function("detokenize", &Session::detokenize)
      .function("result", &Session::result)
      .function("contextLength", &Session::context_length)
      .function("memoryBytes", &Session::memory_bytes);
  function("estimateMemory", &estimate_memory);
  function("memoryBytes", &memory_bytes);
  function("heapInUse", &heap_in_use);
  function("measureMachine", optional_override([](double budget_ms, double buffer_mb) {
             const lm::MachineFigures f = lm::measure_machine(budget_ms, static_cast<size_t>(buffer_mb * 1048576.0));
             val v = val::object();
             v.set("readBandwidthGBs", f.read_bandwidth_gb_s);
             v.set("simdGflops", f.simd_gflop_s);
             return v;
           }));
  function("simdBackend", optional_override([] { return std::string(lm::simd::backend_name()); }));
}
