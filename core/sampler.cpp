#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "error.h"
#include "ops.h"
#include "simd.h"

namespace lm {

namespace {
Error invalid(const std::string& msg) { return Error(ErrorKind::kInvalidArgument, msg); }

// Candidate order: higher logit first, lower id on ties.
struct ByLogit {
  const float* logits;
  bool operator()(int32_t a, int32_t b) const {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  }
};
}  // namespace

void SamplerOptions::validate() const {
  if (!std::isfinite(temperature) || temperature < 0.0f)
    throw invalid("temperature must be a finite number >= 0, got " + std::to_string(temperature));
  if (top_k < 0) throw invalid("topK must be >= 0 (0 disables it), got " + std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f)) throw invalid("topP must be in (0, 1], got " + std::to_string(top_p));
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0.0f)
    throw invalid("repetitionPenalty must be a finite number > 0, got " + std::to_string(repetition_penalty));
  if (repetition_last_n < 0) throw invalid("repetitionLastN must be >= 0, got " + std::to_string(repetition_last_n));
  if (top_logprobs < 0 || top_logprobs > 20)
    throw invalid("topLogprobs must be between 0 and 20, got " + std::to_string(top_logprobs));
}

// ------------------------------------------------------------------ Rng ---

void Rng::seed_with(uint64_t seed) {
  for (uint64_t& s : s_) {  // splitmix64
    seed += 0x9e3779b97f4a7c15ull;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    s = z ^ (z >> 31);
  }
}

uint64_t Rng::next() {
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }

// -------------------------------------------------------------- Sampler ---

Sampler::Sampler(int vocab_size)
    : order_(static_cast<size_t>(vocab_size)),
      probs_(static_cast<size_t>(vocab_size)),
      raw_(static_cast<size_t>(vocab_size)),
      seen_(static_cast<size_t>(vocab_size)) {
  top_.reserve(20);
}

void Sampler::reset(const SamplerOptions& options) {
  options.validate();
  options_ = options;
  rng_.seed_with(options.seed);
}

void Sampler::compute_logprobs(const float* logits, int n) {
  top_.clear();
  log_norm_ = log_sum_exp(logits, n);
  const int k = std::min(options_.top_logprobs, n);
  if (k == 0) return;
  for (int i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
  std::partial_sort(order_.begin(), order_.begin() + k, order_.begin() + n, ByLogit{logits});
  for (int i = 0; i < k; ++i) {
    const int32_t id = order_[static_cast<size_t>(i)];
    top_.push_back({id, logits[id] - log_norm_});
  }
}

void Sampler::apply_repetition_penalty(float* logits, int n, std::span<const int32_t> history) {
  if (options_.repetition_penalty == 1.0f) return;
  if (options_.repetition_last_n > 0 && history.size() > static_cast<size_t>(options_.repetition_last_n))
    history = history.last(static_cast<size_t>(options_.repetition_last_n));
  if (++stamp_ == 0) {  // wrapped: clear stale stamps
    std::fill(seen_.begin(), seen_.end(), 0u);
    stamp_ = 1;
  }
  for (int32_t id : history) {
    if (id < 0 || id >= n || seen_[static_cast<size_t>(id)] == stamp_) continue;
    seen_[static_cast<size_t>(id)] = stamp_;
    float& l = logits[id];
    l = l > 0.0f ? l / options_.repetition_penalty : l * options_.repetition_penalty;
  }
}

// Temperature, top-k, top-p, then one uniform draw over what is left.
int32_t Sampler::draw(const float* logits, int n) {
  const float inv_t = 1.0f / options_.temperature;
  const bool truncate = (options_.top_k > 0 && options_.top_k < n) || options_.top_p < 1.0f;
  int m = n;
  for (int i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
  if (truncate) {
    ByLogit cmp{logits};
    if (options_.top_k > 0 && options_.top_k < n) {
      m = options_.top_k;
      std::partial_sort(order_.begin(), order_.begin() + m, order_.begin() + n, cmp);
    } else {
      std::sort(order_.begin(), order_.begin() + n, cmp);
    }
  }
  float mx = logits[order_[0]];
  if (!truncate)
    for (int i = 1; i < n; ++i) mx = std::max(mx, logits[i]);
  float sum = 0.0f;
  for (int i = 0; i < m; ++i) {
    const float p = simd::exp((logits[order_[static_cast<size_t>(i)]] - mx) * inv_t);
    probs_[static_cast<size_t>(i)] = p;
    sum += p;
  }
  if (options_.top_p < 1.0f) {
    // Smallest prefix (by probability) whose mass reaches top_p; at least one token.
    const float target = options_.top_p * sum;
    float cum = 0.0f;
    int keep = 0;
    while (keep < m) {
      cum += probs_[static_cast<size_t>(keep++)];
      if (cum >= target) break;
    }
    m = keep;
    sum = cum;
  }
  const float r = rng_.uniform() * sum;
  float cum = 0.0f;
  for (int i = 0; i < m; ++i) {
    cum += probs_[static_cast<size_t>(i)];
    if (r < cum) return order_[static_cast<size_t>(i)];
  }
  return order_[static_cast<size_t>(m - 1)];  // r rounded up to sum
}

int32_t Sampler::sample(float* logits, int n, std::span<const int32_t> history) {
  if (n <= 0 || static_cast<size_t>(n) > order_.size())
    throw Error(ErrorKind::kInvalidArgument, "sampler: logits size outside the vocabulary");
  const bool report = reports_logprobs();
  if (report) compute_logprobs(logits, n);
  // The penalty rewrites logits in place; the reported logprob is of the raw one.
  const bool penalised = options_.repetition_penalty != 1.0f;
  if (report && penalised) std::copy(logits, logits + n, raw_.begin());
  apply_repetition_penalty(logits, n, history);
  const int32_t id = options_.temperature == 0.0f ? static_cast<int32_t>(argmax(logits, n)) : draw(logits, n);
  if (report) logprob_ = (penalised ? raw_[static_cast<size_t>(id)] : logits[id]) - log_norm_;
  return id;
}

}  // namespace lm
