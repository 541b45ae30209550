#include "sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "error.h"

namespace lm {
namespace {

std::vector<float> random_logits(uint32_t seed, int n, float scale = 2.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Ids sorted by logit, highest first, ties to the lower id.
std::vector<int> ranking(const std::vector<float>& logits) {
  std::vector<int> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  return ids;
}

int sample_once(Sampler& s, std::vector<float> logits, std::span<const int32_t> history = {}) {
  return s.sample(logits.data(), static_cast<int>(logits.size()), history);
}

TEST(Sampler, GreedyPicksArgmaxWithTiesToLowestId) {
  Sampler s(8);
  SamplerOptions o;
  o.temperature = 0.0f;
  s.reset(o);
  EXPECT_EQ(sample_once(s, {0.f, 2.f, 5.f, 5.f, 1.f, 5.f, 0.f, 0.f}), 2);
  EXPECT_EQ(sample_once(s, {-3.f, -1.f, -2.f, -1.f, -9.f, -9.f, -9.f, -9.f}), 1);
}

TEST(Sampler, TopKNeverPicksOutsideTheKBest) {
  const std::vector<float> logits = random_logits(1, 300);
  const std::vector<int> rank = ranking(logits);
  for (int k : {1, 3, 10}) {
    Sampler s(300);
    SamplerOptions o;
    o.temperature = 1.5f;
    o.top_k = k;
    o.top_p = 1.0f;
    o.seed = 77;
    s.reset(o);
    const std::set<int> allowed(rank.begin(), rank.begin() + k);
    std::set<int> seen;
    for (int i = 0; i < 3000; ++i) {
      const int id = sample_once(s, logits);
      ASSERT_TRUE(allowed.count(id)) << "top-k " << k << " picked " << id;
      seen.insert(id);
    }
    EXPECT_EQ(seen.size(), static_cast<size_t>(k)) << "every one of the k best should come up";
  }
}

TEST(Sampler, TopPNeverPicksOutsideTheNucleus) {
  const std::vector<float> logits = random_logits(2, 200, 1.5f);
  const std::vector<int> rank = ranking(logits);
  for (float top_p : {0.1f, 0.5f, 0.9f}) {
    // The nucleus: smallest prefix of the ranking whose softmax mass reaches top_p.
    double z = 0;
    for (float l : logits) z += std::exp(double{l});
    std::set<int> nucleus;
    double cum = 0;
    for (int id : rank) {
      nucleus.insert(id);
      cum += std::exp(double{logits[static_cast<size_t>(id)]}) / z;
      if (cum >= top_p) break;
    }
    Sampler s(200);
    SamplerOptions o;
    o.temperature = 1.0f;
    o.top_k = 0;
    o.top_p = top_p;
    o.seed = 5;
    s.reset(o);
    for (int i = 0; i < 3000; ++i) {
      const int id = sample_once(s, logits);
      ASSERT_TRUE(nucleus.count(id)) << "top-p " << top_p << " picked " << id << " (nucleus size " << nucleus.size() << ")";
    }
  }
}

TEST(Sampler, FixedSeedRepeatsAndDifferentSeedsDiffer) {
  const std::vector<float> logits = random_logits(3, 64, 0.5f);
  auto run = [&](uint64_t seed) {
    Sampler s(64);
    SamplerOptions o;
    o.temperature = 1.0f;
    o.top_k = 0;
    o.top_p = 1.0f;
    o.seed = seed;
    s.reset(o);
    std::vector<int> ids;
    for (int i = 0; i < 200; ++i) ids.push_back(sample_once(s, logits));
    return ids;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  // reset() with the same seed restarts the stream.
  Sampler s(64);
  SamplerOptions o;
  o.seed = 9;
  o.temperature = 1.0f;
  s.reset(o);
  const int first = sample_once(s, logits);
  for (int i = 0; i < 10; ++i) sample_once(s, logits);
  s.reset(o);
  EXPECT_EQ(sample_once(s, logits), first);
}

// At temperature 1 with no truncation the empirical frequencies match
// softmax(logits) within sampling error (chi-square, 9 degrees of freedom).
TEST(Sampler, TemperatureOneMatchesSoftmax) {
  const std::vector<float> logits = {1.0f, 0.5f, 2.0f, -1.0f, 0.0f, 1.5f, -0.5f, 0.8f, 0.2f, 1.1f};
  Sampler s(10);
  SamplerOptions o;
  o.temperature = 1.0f;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.seed = 2024;
  s.reset(o);
  const int draws = 200000;
  std::vector<int> counts(10);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(sample_once(s, logits))];
  double z = 0;
  for (float l : logits) z += std::exp(double{l});
  double chi2 = 0;
  for (size_t i = 0; i < 10; ++i) {
    const double expected = draws * std::exp(double{logits[i]}) / z;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  EXPECT_LT(chi2, 27.88) << "chi-square above the 0.1% critical value";  // df = 9
}

TEST(Sampler, LowTemperatureSharpensHighTemperatureFlattens) {
  const std::vector<float> logits = {2.0f, 1.0f, 0.0f};
  auto freq_of_best = [&](float t) {
    Sampler s(3);
    SamplerOptions o;
    o.temperature = t;
    o.top_k = 0;
    o.top_p = 1.0f;
    o.seed = 1;
    s.reset(o);
    int best = 0;
    for (int i = 0; i < 20000; ++i) best += sample_once(s, logits) == 0;
    return best / 20000.0;
  };
  EXPECT_GT(freq_of_best(0.2f), 0.99);
  EXPECT_LT(freq_of_best(5.0f), 0.45);
}

TEST(Sampler, RepetitionPenaltyFollowsHuggingFaceRule) {
  Sampler s(4);
  SamplerOptions o;
  o.temperature = 0.0f;
  o.repetition_penalty = 2.0f;
  s.reset(o);
  // Token 0 (logit 3) seen: 3 / 2 = 1.5 < 2 -> token 1 wins. Negative logits are multiplied.
  std::vector<float> logits = {3.0f, 2.0f, -1.0f, -1.0f};
  const std::vector<int32_t> history = {0, 0, 2};
  EXPECT_EQ(s.sample(logits.data(), 4, history), 1);
  EXPECT_FLOAT_EQ(logits[0], 1.5f);  // penalised once however often it occurs
  EXPECT_FLOAT_EQ(logits[2], -2.0f);
  EXPECT_FLOAT_EQ(logits[3], -1.0f);
  // repetition_last_n limits the window.
  o.repetition_last_n = 1;
  s.reset(o);
  logits = {3.0f, 2.0f, -1.0f, -1.0f};
  EXPECT_EQ(s.sample(logits.data(), 4, history), 0);
}

TEST(Sampler, ReportsLogprobsOfTheRawDistribution) {
  Sampler s(5);
  SamplerOptions o;
  o.temperature = 0.0f;
  o.top_logprobs = 3;
  o.repetition_penalty = 1.3f;
  s.reset(o);
  std::vector<float> logits = {1.0f, 4.0f, 2.0f, 4.0f, 0.0f};
  const std::vector<float> raw = logits;
  const std::vector<int32_t> history = {3};
  const int id = s.sample(logits.data(), 5, history);
  EXPECT_EQ(id, 1);  // token 3 is penalised
  double z = 0;
  for (float l : raw) z += std::exp(double{l});
  EXPECT_NEAR(s.logprob(), 4.0 - std::log(z), 1e-5);
  ASSERT_EQ(s.top().size(), 3u);
  EXPECT_EQ(s.top()[0].id, 1);
  EXPECT_EQ(s.top()[1].id, 3);
  EXPECT_EQ(s.top()[2].id, 2);
  EXPECT_NEAR(s.top()[2].logprob, 2.0 - std::log(z), 1e-5);
}

TEST(Sampler, RejectsInvalidOptionsNamingThem) {
  auto message_of = [](SamplerOptions o) {
    try {
      o.validate();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  SamplerOptions o;
  o.temperature = -1.0f;
  EXPECT_NE(message_of(o).find("temperature"), std::string::npos);
  o = {};
  o.temperature = std::nanf("");
  EXPECT_NE(message_of(o).find("temperature"), std::string::npos);
  o = {};
  o.top_p = 0.0f;
  EXPECT_NE(message_of(o).find("topP"), std::string::npos);
  o = {};
  o.top_p = 1.5f;
  EXPECT_NE(message_of(o).find("topP"), std::string::npos);
  o = {};
  o.top_p = std::nanf("");
  EXPECT_NE(message_of(o).find("topP"), std::string::npos);
  o = {};
  o.top_k = -1;
  EXPECT_NE(message_of(o).find("topK"), std::string::npos);
  o = {};
  o.repetition_penalty = 0.0f;
  EXPECT_NE(message_of(o).find("repetitionPenalty"), std::string::npos);
  o = {};
  o.top_logprobs = 21;
  EXPECT_NE(message_of(o).find("topLogprobs"), std::string::npos);
  Sampler s(4);
  o = {};
  o.top_k = -3;
  EXPECT_THROW(s.reset(o), Error);
}

TEST(Rng, IsTheFixedXoshiroStream) {
  // splitmix64-seeded xoshiro256** for seed 0, from an independent Python
  // implementation of the published algorithms. A changed algorithm would
  // change every seeded story.
  Rng rng(0);
  EXPECT_EQ(rng.next(), 0x99ec5f36cb75f2b4ull);
  EXPECT_EQ(rng.next(), 0xbf6e1f784956452aull);
  EXPECT_EQ(rng.next(), 0x1a5f849d4933e6e0ull);
  Rng other(1);
  EXPECT_NE(other.next(), 0x99ec5f36cb75f2b4ull);
  // Uniform floats stay in [0, 1).
  for (int i = 0; i < 100000; ++i) {
    const float u = rng.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
  }
}

}  // namespace
}  // namespace lm
