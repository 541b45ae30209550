#include "generator.h"

#include <algorithm>
#include <cstdint>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "error.h"
#include "unicode.h"

namespace lm {

namespace {

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// uint64_t arithmetic that sticks at UINT64_MAX instead of wrapping.
struct Saturating {
  uint64_t v;
  friend Saturating operator*(Saturating a, Saturating b) {
    uint64_t r;
    return {__builtin_mul_overflow(a.v, b.v, &r) ? UINT64_MAX : r};
  }
  friend Saturating operator+(Saturating a, Saturating b) {
    uint64_t r;
    return {__builtin_add_overflow(a.v, b.v, &r) ? UINT64_MAX : r};
  }
};
Saturating sat(int64_t v) { return {v < 0 ? 0 : static_cast<uint64_t>(v)}; }

struct SessionBytes {
  uint64_t kv_cache, total;
};

// What a session allocates (see Generator::bytes_needed), saturating.
SessionBytes session_bytes(const ModelConfig& c, const GeneratorConfig& g) {
  const Saturating ctx = sat(g.resolved_context(c)), B = sat(g.resolved_batch(c));
  const Saturating d = sat(c.hidden_size), f = sat(c.intermediate_size), hd = sat(c.head_dim);
  const Saturating q = sat(c.num_attention_heads) * hd, kv = sat(c.num_key_value_heads) * hd;
  const Saturating V = sat(c.vocab_size), f32 = sat(4);
  const Saturating kv_cache = sat(2) * f32 * sat(c.num_hidden_layers) * kv * ctx;
  // RunState (model.h): x, xb, xb2, q, att, k, v, hb, hb2, rope_cos/sin; scores; logits.
  const Saturating run_state =
      f32 * (B * (sat(3) * d + sat(2) * q + sat(2) * kv + sat(2) * f + hd) + sat(c.num_attention_heads) * ctx + V);
  const Saturating sampler = sat(4) * f32 * V;                    // its four per-vocabulary arrays
  const Saturating history = f32 * ctx + sat(2) * sat(16) * ctx;  // ids_, and TextStream's text reserves
  return {kv_cache.v, (kv_cache + run_state + sampler + history).v};
}

std::string bytes_text(uint64_t n) { return n == UINT64_MAX ? std::string("more than 2^64") : std::to_string(n); }

// The context length to allocate, after refusing a session that would need
// more memory than allowed. (An out-of-range context is left to KvCache, which
// names the valid range.)
int checked_context(const ModelConfig& c, const GeneratorConfig& g) {
  const int ctx = g.resolved_context(c);
  if (ctx < 1 || ctx > c.max_position_embeddings) return ctx;
  const uint64_t limit = g.max_memory_bytes ? g.max_memory_bytes : default_session_memory_limit();
  const SessionBytes need = session_bytes(c, g);
  if (need.total > limit)
    throw Error(ErrorKind::kResourceLimit,
                "a session with context " + std::to_string(ctx) + " and batch " + std::to_string(g.resolved_batch(c)) +
                    " needs " + bytes_text(need.total) + " bytes (KV cache " + bytes_text(need.kv_cache) +
                    "), above the limit of " + std::to_string(limit) + " bytes; use a shorter context");
  return ctx;
}

}  // namespace

uint64_t default_session_memory_limit() {
  if constexpr (sizeof(void*) < 8) return uint64_t{4} << 30;
#if defined(__unix__) || defined(__APPLE__)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return (sat(pages) * sat(page)).v;
#endif
  return uint64_t{64} << 30;
}

uint64_t Generator::bytes_needed(const ModelConfig& c, const GeneratorConfig& g) { return session_bytes(c, g).total; }

int GeneratorConfig::resolved_context(const ModelConfig& c) const {
  return context_length > 0 ? context_length : std::min(c.max_position_embeddings, 2048);
}

int GeneratorConfig::resolved_batch(const ModelConfig& c) const {
  return std::max(1, std::min(batch, resolved_context(c)));
}

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kNone: return "none";
    case StopReason::kEos: return "eos";
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kContext: return "context";
    case StopReason::kStop: return "stop";
    case StopReason::kCancelled: return "cancelled";
  }
  return "none";
}

GenerationOptions default_generation_options(const Model& model) {
  GenerationOptions o;
  const GenerationDefaults& g = model.config().generation;
  if (g.temperature) o.sampling.temperature = *g.temperature;
  if (g.top_k) o.sampling.top_k = *g.top_k;
  if (g.top_p) o.sampling.top_p = *g.top_p;
  if (g.repetition_penalty) o.sampling.repetition_penalty = *g.repetition_penalty;
  return o;
}

void GenerationOptions::validate() const {
  sampling.validate();
  if (max_tokens < 0) throw Error(ErrorKind::kInvalidArgument, "maxTokens must be >= 0, got " + std::to_string(max_tokens));
  if (stop.size() > 16) throw Error(ErrorKind::kInvalidArgument, "stop: at most 16 stop strings");
  for (const std::string& s : stop) {
    if (s.empty() || s.size() > 256)
      throw Error(ErrorKind::kInvalidArgument, "stop: each stop string must have 1 to 256 bytes");
    // Text is matched and held back byte by byte: a stop string starting
    // inside a character would split one between two deltas.
    if (!unicode::is_valid_utf8(s)) throw Error(ErrorKind::kInvalidArgument, "stop: each stop string must be valid UTF-8");
  }
}

Generator::Generator(std::shared_ptr<const Model> model, const GeneratorConfig& config, ThreadPool* pool)
    : model_(std::move(model)),
      pool_(pool),
      cache_(model_->config(), checked_context(model_->config(), config)),
      state_(model_->config(), config.resolved_batch(model_->config()), cache_.context_length()),
      sampler_(model_->config().vocab_size),
      stream_(model_->tokenizer()) {
  ids_.reserve(static_cast<size_t>(cache_.context_length()));
}

void Generator::start(std::string_view prompt, const GenerationOptions& options) {
  options.validate();  // before the tokenizer: bad options fail fast, whatever the prompt
  const std::vector<int32_t> ids = model_->tokenizer().encode(prompt, options.add_special_tokens);
  start_ids(ids, options);
}

void Generator::start_chat(const std::vector<ChatMessage>& messages, const GenerationOptions& options) {
  const ChatTemplate& chat = model_->chat_template();
  GenerationOptions o = options;
  o.add_special_tokens = !chat.includes_bos();
  // The end-of-turn marker is a special token in these vocabularies; if not, a stop string.
  if (const auto id = model_->tokenizer().token_to_id(chat.end_of_turn())) o.stop_token_ids.push_back(*id);
  else o.stop.emplace_back(chat.end_of_turn());
  start(chat.format(messages), o);
}

void Generator::start_ids(std::span<const int32_t> prompt_ids, const GenerationOptions& options) {
  options.validate();
  phase_ = Phase::kIdle;  // a failure below leaves the session idle, not half-started
  const int ctx = cache_.context_length();
  if (prompt_ids.empty())
    throw Error(ErrorKind::kInvalidArgument, "the prompt is empty and the tokenizer adds no BOS token");
  for (int32_t id : prompt_ids)
    if (id < 0 || id >= model_->config().vocab_size)
      throw Error(ErrorKind::kInvalidArgument, "prompt token id " + std::to_string(id) + " outside the vocabulary");
  if (prompt_ids.size() > static_cast<size_t>(ctx)) {
    if (!options.truncate_prompt)
      throw Error(ErrorKind::kContextOverflow, "the prompt has " + std::to_string(prompt_ids.size()) +
                                                   " tokens but the context holds " + std::to_string(ctx) +
                                                   "; shorten it or allow truncation");
    // Keep the end, leaving room to generate; keep a leading BOS.
    const size_t room = static_cast<size_t>(std::min(options.max_tokens, ctx / 2));
    const size_t keep = static_cast<size_t>(ctx) - room;
    const auto bos = model_->tokenizer().bos_id();
    ids_.clear();
    if (bos && prompt_ids.front() == *bos) ids_.push_back(*bos);
    const size_t tail = keep - ids_.size();
    ids_.insert(ids_.end(), prompt_ids.end() - static_cast<std::ptrdiff_t>(tail), prompt_ids.end());
  } else {
    ids_.assign(prompt_ids.begin(), prompt_ids.end());
  }
  begin(options);
}

void Generator::begin(const GenerationOptions& options) {
  options_ = options;
  sampler_.reset(options.sampling);
  prompt_len_ = static_cast<int>(ids_.size());
  prefill_pos_ = 0;
  feed_last_ = false;
  reason_ = StopReason::kNone;
  // Reserve for a full context of text so decoding never reallocates mid-generation.
  stream_.begin(ids_, options.stop, 16 * static_cast<size_t>(cache_.context_length()));
  stats_ = GenerationStats{};
  stats_.prompt_tokens = prompt_len_;
  started_ = Clock::now();
  phase_ = Phase::kPrefill;
  if (options.max_tokens == 0) finish(StopReason::kMaxTokens, nullptr);
}

void Generator::cancel() {
  if (phase_ == Phase::kPrefill || phase_ == Phase::kDecode) finish(StopReason::kCancelled, nullptr);
}

void Generator::finish(StopReason reason, TokenEvent* event) {
  reason_ = reason;
  phase_ = Phase::kDone;
  if (event) {
    event->last = true;
    stream_.finish(ids_, event->text);
  }
  if (stats_.generated_tokens > 0) stats_.decode_ms = ms_between(first_token_, Clock::now());
}

Generator::Step Generator::step(TokenEvent& event) {
  if (phase_ == Phase::kIdle) throw Error(ErrorKind::kState, "generate: call start() first");
  if (phase_ == Phase::kDone) return Step::kDone;

  try {
    if (phase_ == Phase::kPrefill) {
      const int n = std::min(state_.batch, prompt_len_ - prefill_pos_);
      const auto t0 = Clock::now();
      model_->forward({ids_.data() + prefill_pos_, static_cast<size_t>(n)}, prefill_pos_, cache_, state_, pool_);
      stats_.prefill_ms += ms_between(t0, Clock::now());
      prefill_pos_ += n;
      if (prefill_pos_ == prompt_len_) phase_ = Phase::kDecode;
      return Step::kPrefill;
    }

    // Decode: run the previous token (its logits are the ones we sample), then sample.
    if (feed_last_) {
      const int pos = static_cast<int>(ids_.size()) - 1;
      model_->forward({&ids_.back(), 1}, pos, cache_, state_, pool_);
    }
    const ModelConfig& c = model_->config();
    // Only ids the tokenizer can decode are candidates (some models pad the embedding).
    const int n_candidates = std::min(c.vocab_size, model_->tokenizer().vocab_size());
    const int32_t id = sampler_.sample(state_.logits.data(), n_candidates, ids_);
    ids_.push_back(id);
    feed_last_ = true;
    if (++stats_.generated_tokens == 1) {
      first_token_ = Clock::now();
      stats_.time_to_first_token_ms = ms_between(started_, first_token_);
    }

    event.id = id;
    event.text.clear();
    event.has_logprob = sampler_.reports_logprobs();
    event.logprob = event.has_logprob ? sampler_.logprob() : 0.0f;
    event.top.assign(sampler_.top().begin(), sampler_.top().end());
    event.last = false;

    const bool ends_turn =
        std::find(options_.stop_token_ids.begin(), options_.stop_token_ids.end(), id) != options_.stop_token_ids.end();
    if (!options_.ignore_eos && (c.is_eos(id) || ends_turn)) {
      finish(StopReason::kEos, &event);
    } else if (stream_.update(ids_, event.text)) {
      finish(StopReason::kStop, &event);
    } else if (stats_.generated_tokens >= options_.max_tokens) {
      finish(StopReason::kMaxTokens, &event);
    } else if (ids_.size() >= static_cast<size_t>(cache_.context_length())) {
      finish(StopReason::kContext, &event);
    }
    return Step::kToken;
  } catch (...) {
    // A failed step ends this generation; the session stays usable.
    phase_ = Phase::kIdle;
    throw;
  }
}

// ------------------------------------------------------------ TextStream ---

void TextStream::begin(std::span<const int32_t> prompt_ids, const std::vector<std::string>& stop,
                       size_t reserve_bytes) {
  prompt_len_ = prompt_ids.size();
  tokenizer_->decode_into(prompt_ids, /*skip_special_tokens=*/true, prompt_text_);
  stop_ = stop;
  max_stop_len_ = 0;
  for (const std::string& s : stop_) max_stop_len_ = std::max(max_stop_len_, s.size());
  stopped_ = false;
  text_.clear();
  text_.reserve(reserve_bytes);
  decoded_.reserve(prompt_text_.size() + reserve_bytes);
}

bool TextStream::update(std::span<const int32_t> ids, std::string& delta) { return release(ids, false, delta); }

void TextStream::finish(std::span<const int32_t> ids, std::string& delta) {
  if (!stopped_) release(ids, true, delta);
}

bool TextStream::release(std::span<const int32_t> ids, bool final, std::string& delta) {
  if (stopped_) return true;
  // Ids whose text can no longer change, whatever comes next.
  const size_t n_final = final ? ids.size() : tokenizer_->stable_prefix_length(ids);
  if (n_final <= prompt_len_ && !final) return false;
  tokenizer_->decode_into(ids.first(n_final), /*skip_special_tokens=*/true, decoded_);

  // The continuation is what decoding added after the prompt's own text.
  size_t from = prompt_text_.size();
  if (decoded_.compare(0, from, prompt_text_) != 0) {
    from = 0;  // the prompt's text changed (it ended inside a byte run): longest common prefix
    while (from < prompt_text_.size() && from < decoded_.size() && decoded_[from] == prompt_text_[from]) ++from;
  }
  const std::string_view continuation = std::string_view(decoded_).substr(std::min(from, decoded_.size()));
  if (continuation.size() <= text_.size()) return false;
  std::string_view fresh = continuation.substr(text_.size());

  if (!stop_.empty()) {
    // A stop string can only end inside the fresh text: emitted text never
    // ends with a proper prefix of one (that part is held back below).
    const size_t search_from = text_.size() > max_stop_len_ ? text_.size() - max_stop_len_ + 1 : 0;
    size_t cut = std::string_view::npos;
    for (const std::string& s : stop_) cut = std::min(cut, continuation.find(s, search_from));
    if (cut != std::string_view::npos) {
      stopped_ = true;
      fresh = cut > text_.size() ? continuation.substr(text_.size(), cut - text_.size()) : std::string_view{};
    } else if (!final) {
      // Hold back the longest tail that a stop string could still start with.
      size_t hold = 0;
      for (const std::string& s : stop_)
        for (size_t len = std::min(s.size() - 1, continuation.size()); len > hold; --len)
          if (continuation.substr(continuation.size() - len) == std::string_view(s).substr(0, len)) {
            hold = len;
            break;
          }
      fresh = fresh.substr(0, fresh.size() > hold ? fresh.size() - hold : 0);
    }
  }
  text_.append(fresh);
  delta.append(fresh);
  return stopped_;
}

}  // namespace lm
