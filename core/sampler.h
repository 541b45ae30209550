// Sampler: picks the next token from a row of logits.
//
// temperature == 0 is greedy (ties go to the lowest id). Otherwise, in this
// order: repetition penalty, temperature, top-k, top-p, then one draw from a
// seeded xoshiro256** generator. Every step is plain f32 arithmetic with
// lm::simd::exp, so a seed gives the same tokens natively and in WebAssembly.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace lm {

struct SamplerOptions {
  float temperature = 0.8f;        // 0 = greedy; must be finite and >= 0
  int top_k = 40;                  // 0 = no top-k
  float top_p = 0.9f;              // in (0, 1]; 1 = no top-p
  float repetition_penalty = 1.0f; // > 0; 1 = none (CTRL / Hugging Face rule)
  int repetition_last_n = 0;       // penalise ids among the last n tokens; 0 = all of them
  uint64_t seed = 0;
  int top_logprobs = 0;            // report this many most likely alternatives (0..20)
  bool logprobs = false;           // report the chosen token's log-probability (implied by top_logprobs)

  // Throws lm::Error(kInvalidArgument) naming the first invalid option.
  void validate() const;
};

// The model's own distribution at one step: log-softmax of the raw logits,
// before penalty, temperature or truncation.
struct TokenLogprob {
  int32_t id;
  float logprob;
};

// xoshiro256** seeded through splitmix64: a fixed algorithm, so the same seed
// gives the same stream on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next();
  float uniform();  // [0, 1), 24 random bits

 private:
  uint64_t s_[4];
};

class Sampler {
 public:
  explicit Sampler(int vocab_size);  // allocates its buffers once

  // Validates and installs options; reseeds the generator.
  void reset(const SamplerOptions& options);
  const SamplerOptions& options() const { return options_; }

  // Picks a token id < n from logits[0..n) (modified in place). `history` is
  // every token so far (prompt and generated) for the repetition penalty.
  // Fills logprob() and top() when options.logprobs or top_logprobs > 0.
  int32_t sample(float* logits, int n, std::span<const int32_t> history);
  bool reports_logprobs() const { return options_.logprobs || options_.top_logprobs > 0; }

  float logprob() const { return logprob_; }                   // of the chosen token
  std::span<const TokenLogprob> top() const { return {top_.data(), top_.size()}; }

 private:
  void compute_logprobs(const float* logits, int n);
  void apply_repetition_penalty(float* logits, int n, std::span<const int32_t> history);
  int32_t draw(const float* logits, int n);

  SamplerOptions options_;
  Rng rng_;
  std::vector<int32_t> order_;   // [vocab] candidate ids
  std::vector<float> probs_;     // [vocab] candidate probabilities
  std::vector<float> raw_;       // [vocab] logits before the penalty (only when reporting logprobs)
  std::vector<uint32_t> seen_;   // [vocab] stamp of the last penalty pass that touched an id
  uint32_t stamp_ = 0;
  float log_norm_ = 0.0f;        // log-sum-exp of the raw logits of this step
  float logprob_ = 0.0f;
  std::vector<TokenLogprob> top_;
};

}  // namespace lm
