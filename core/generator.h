// Generator: one generation session over a shared Model.
//
// Owns what a session needs (KV cache, activations, sampler, token history)
// and turns tokens into a stream of text deltas:
//   * the deltas concatenate to decode(prompt + generated) minus decode(prompt);
//   * each delta is valid UTF-8: text whose bytes may still change (an open
//     run of byte-fallback tokens) is held back until it is final;
//   * text that may still turn into a stop string is held back, so nothing is
//     ever emitted and then retracted.
// Work is done in small steps (a prefill chunk or one token) so a caller can
// interleave other work and cancel between steps; after cancel() or an error
// the next start() works normally.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kv_cache.h"
#include "model.h"
#include "sampler.h"

namespace lm {

class ThreadPool;

struct GenerationOptions {
  SamplerOptions sampling;
  int max_tokens = 256;            // >= 0; generation also stops when the context is full
  std::vector<std::string> stop;   // stop strings (not included in the output)
  bool ignore_eos = false;         // keep going past eos ids (benchmarks)
  bool truncate_prompt = false;    // over-long prompt: keep its end instead of failing
  bool add_special_tokens = true;  // let the tokenizer's post-processor add BOS
  std::vector<int32_t> stop_token_ids;  // ids that end generation like an eos id (a chat turn's end)

  void validate() const;  // throws lm::Error(kInvalidArgument) naming the option
};

// The options a generation starts from: lm-wasm's defaults with the model's
// generation_config.json sampling defaults (ModelConfig::generation) in place.
// Callers override what their user set.
GenerationOptions default_generation_options(const Model& model);

enum class StopReason { kNone, kEos, kMaxTokens, kContext, kStop, kCancelled };
const char* stop_reason_name(StopReason reason);  // "eos", "max_tokens", "context", "stop", "cancelled"

// One generated token.
struct TokenEvent {
  int32_t id = -1;
  std::string text;                 // text delta released by this token (may be empty)
  bool has_logprob = false;         // logprob and top were computed (options.sampling.logprobs / top_logprobs)
  float logprob = 0.0f;             // log-probability under the model (see Sampler)
  std::vector<TokenLogprob> top;    // the top_logprobs most likely tokens at this step
  bool last = false;                // generation ended with this token
};

struct GenerationStats {
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prefill_ms = 0;            // all prompt forward passes
  double time_to_first_token_ms = 0;  // start() to the first token
  double decode_ms = 0;             // first token to last token
  double prefill_tokens_per_s() const { return prefill_ms > 0 ? prompt_tokens * 1000.0 / prefill_ms : 0; }
  double decode_tokens_per_s() const {
    return decode_ms > 0 ? (generated_tokens - 1) * 1000.0 / decode_ms : 0;
  }
};

// TextStream: turns a growing id sequence into text deltas (see above).
// Separate from Generator so it can be driven with any ids in tests.
class TextStream {
 public:
  explicit TextStream(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // Starts a stream after `prompt_ids`. `stop` strings end the stream.
  void begin(std::span<const int32_t> prompt_ids, const std::vector<std::string>& stop, size_t reserve_bytes = 0);
  // `ids` = prompt ids followed by every generated id so far. Appends newly
  // final text to `delta`; returns true when a stop string was found (the
  // text then ends just before it and the stream is over).
  bool update(std::span<const int32_t> ids, std::string& delta);
  // End of generation: releases everything held back (unless a stop string ended it).
  void finish(std::span<const int32_t> ids, std::string& delta);
  const std::string& text() const { return text_; }  // continuation emitted so far

 private:
  bool release(std::span<const int32_t> ids, bool final, std::string& delta);

  const Tokenizer* tokenizer_;
  size_t prompt_len_ = 0;
  std::string prompt_text_;         // decode(prompt ids)
  std::vector<std::string> stop_;
  size_t max_stop_len_ = 0;
  bool stopped_ = false;
  std::string decoded_;             // scratch: decode(final prefix of ids)
  std::string text_;                // continuation text emitted so far
};

struct GeneratorConfig {
  int context_length = 0;  // KV cache positions; 0 = min(max_position_embeddings, 2048)
  int batch = 128;         // prompt tokens per prefill forward pass
  // A session needing more than this many bytes (Generator::bytes_needed) is
  // refused with kResourceLimit before anything is allocated; 0 = the default,
  // default_session_memory_limit().
  uint64_t max_memory_bytes = 0;

  int resolved_context(const ModelConfig& config) const;  // context_length with the default applied
  int resolved_batch(const ModelConfig& config) const;    // batch, at most the context
};

// The physical memory natively (64 GiB when unknown); 4 GiB, the whole
// address space, in 32-bit WebAssembly.
uint64_t default_session_memory_limit();

class Generator {
 public:
  // Throws lm::Error(kInvalidArgument) for a context outside [1,
  // max_position_embeddings], kResourceLimit when the session would need more
  // than config.max_memory_bytes.
  Generator(std::shared_ptr<const Model> model, const GeneratorConfig& config = {}, ThreadPool* pool = nullptr);

  // Bytes a session of this model and config allocates: KV cache, RunState,
  // sampler and token/text buffers. Saturates at UINT64_MAX instead of
  // overflowing (the figures come from config.json).
  static uint64_t bytes_needed(const ModelConfig& model, const GeneratorConfig& config);

  // Begins a generation: validates options, tokenizes the prompt (or takes
  // ids as given), resets the cache. Throws lm::Error (kInvalidArgument for
  // options, kContextOverflow for a prompt that does not fit).
  void start(std::string_view prompt, const GenerationOptions& options);
  void start_ids(std::span<const int32_t> prompt_ids, const GenerationOptions& options);
  // Formats `messages` with the model's chat template and generates the
  // assistant's reply, which ends at the template's end-of-turn token.
  void start_chat(const std::vector<ChatMessage>& messages, const GenerationOptions& options);

  enum class Step { kPrefill, kToken, kDone };
  // One unit of work: a prefill chunk (kPrefill), or one token (kToken, with
  // `event` filled), or nothing left (kDone). Throws kState before start().
  Step step(TokenEvent& event);
  // Runs to the end, calling on_token(event) for each token.
  template <class OnToken>
  void run(OnToken&& on_token) {
    TokenEvent event;
    for (Step s; (s = step(event)) != Step::kDone;)
      if (s == Step::kToken) on_token(static_cast<const TokenEvent&>(event));
  }

  // Ends the current generation with reason kCancelled; start() works again.
  void cancel();

  bool done() const { return phase_ == Phase::kDone || phase_ == Phase::kIdle; }
  StopReason stop_reason() const { return reason_; }
  std::span<const int32_t> prompt_ids() const { return {ids_.data(), static_cast<size_t>(prompt_len_)}; }
  std::span<const int32_t> generated_ids() const {
    return {ids_.data() + prompt_len_, ids_.size() - static_cast<size_t>(prompt_len_)};
  }
  const std::string& text() const { return stream_.text(); }  // continuation text emitted so far
  const GenerationStats& stats() const { return stats_; }
  int prefill_done() const { return prefill_pos_; }  // prompt tokens processed so far

  const Model& model() const { return *model_; }
  int context_length() const { return cache_.context_length(); }
  size_t memory_bytes() const { return cache_.bytes() + state_.bytes(); }

 private:
  enum class Phase { kIdle, kPrefill, kDecode, kDone };
  using Clock = std::chrono::steady_clock;

  void begin(const GenerationOptions& options);
  void finish(StopReason reason, TokenEvent* event);

  std::shared_ptr<const Model> model_;
  ThreadPool* pool_;
  KvCache cache_;
  RunState state_;
  Sampler sampler_;
  GenerationOptions options_;
  Phase phase_ = Phase::kIdle;
  StopReason reason_ = StopReason::kNone;

  std::vector<int32_t> ids_;    // prompt then generated ids; capacity = context length
  int prompt_len_ = 0;
  int prefill_pos_ = 0;         // prompt tokens already in the cache
  bool feed_last_ = false;      // the last generated id still has to go through forward()
  TextStream stream_;

  GenerationStats stats_;
  Clock::time_point started_, first_token_;
};

}  // namespace lm
