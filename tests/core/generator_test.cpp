// Generation end to end on the story model (greedy against the float64
// reference), stop conditions, sessions, and the TextStream rules.
#include "generator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "error.h"
#include "test_support.h"

#include "count_allocations.h"

namespace lm {
namespace {

std::shared_ptr<const Model> story_model() {
  static std::shared_ptr<const Model> model = Model::load(read_model_dir(test::story_model_dir()));
  return model;
}

GenerationOptions greedy(int max_tokens) {
  GenerationOptions o;
  o.sampling.temperature = 0.0f;
  o.max_tokens = max_tokens;
  return o;
}

struct GenRun {
  std::vector<int32_t> ids;
  std::string streamed;  // concatenation of the deltas
  std::vector<std::string> deltas;
  StopReason reason;
  std::string text;
};

GenRun generate(Generator& g, const std::string& prompt, const GenerationOptions& o) {
  GenRun r;
  g.start(prompt, o);
  g.run([&](const TokenEvent& e) {
    r.ids.push_back(e.id);
    r.streamed += e.text;
    r.deltas.push_back(e.text);
  });
  r.reason = g.stop_reason();
  r.text = g.text();
  return r;
}

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += len;
  }
  return true;
}

// Every golden prompt: identical ids, identical continuation text, and the
// streamed deltas concatenate to it.
TEST(Generator, GreedyMatchesTheReference) {
  const nlohmann::json golden = test::read_json(test::golden_path("story-greedy.json"));
  Generator g(story_model());
  for (const auto& c : golden["cases"]) {
    const GenRun r = generate(g, c["prompt"], greedy(golden["max_new_tokens"]));
    EXPECT_EQ(std::vector<int32_t>(g.prompt_ids().begin(), g.prompt_ids().end()), c["prompt_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(r.ids, c["generated_ids"].get<std::vector<int32_t>>()) << c["name"];
    EXPECT_EQ(r.text, c["continuation_text"].get<std::string>()) << c["name"];
    EXPECT_EQ(r.streamed, r.text);
    EXPECT_EQ(r.reason, c["stopped_at_eos"].get<bool>() ? StopReason::kEos : StopReason::kMaxTokens) << c["name"];
    for (const std::string& d : r.deltas) EXPECT_TRUE(valid_utf8(d));
  }
}

TEST(Generator, StreamEqualsDecodeDifferenceWhenSampling) {
  Generator g(story_model());
  for (uint64_t seed : {1u, 2u, 3u}) {
    GenerationOptions o;
    o.sampling.seed = seed;
    o.sampling.temperature = 1.0f;
    o.max_tokens = 150;
    const GenRun r = generate(g, "Tom and Sue", o);
    const Tokenizer& tok = story_model()->tokenizer();
    std::vector<int32_t> all(g.prompt_ids().begin(), g.prompt_ids().end());
    const std::string prompt_text = tok.decode(all);
    all.insert(all.end(), r.ids.begin(), r.ids.end());
    EXPECT_EQ(r.streamed, tok.decode(all).substr(prompt_text.size()));
    EXPECT_EQ(r.streamed, r.text);
  }
}

TEST(Generator, SameSeedSameTokensDifferentSeedDifferentTokens) {
  Generator g(story_model());
  GenerationOptions o;
  o.max_tokens = 60;
  o.sampling.seed = 42;
  const GenRun a = generate(g, "Once upon a time", o);
  const GenRun b = generate(g, "Once upon a time", o);
  o.sampling.seed = 43;
  const GenRun c = generate(g, "Once upon a time", o);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_NE(a.ids, c.ids);
}

// The stop string is found in text that spans tokens, is not emitted, and
// nothing emitted is ever retracted.
TEST(Generator, StopStringsEndGenerationWithoutLeakingThem) {
  const nlohmann::json golden = test::read_json(test::golden_path("story-greedy.json"));
  const std::string full = golden["cases"][0]["continuation_text"];
  Generator g(story_model());
  for (const std::string stop : {"Spot", "small bird", "\n", "Spot, Spot, loved"}) {
    GenerationOptions o = greedy(64);
    o.stop = {"zzz-not-there", stop};
    const GenRun r = generate(g, "Once upon a time", o);
    EXPECT_EQ(r.reason, StopReason::kStop) << stop;
    EXPECT_EQ(r.text, full.substr(0, full.find(stop))) << stop;
    EXPECT_EQ(r.streamed, r.text) << stop;
  }
}

TEST(Generator, MaxTokensContextAndIgnoreEos) {
  Generator g(story_model());
  GenRun r = generate(g, "Once upon a time", greedy(5));
  EXPECT_EQ(r.ids.size(), 5u);
  EXPECT_EQ(r.reason, StopReason::kMaxTokens);

  r = generate(g, "Once upon a time", greedy(0));
  EXPECT_TRUE(r.ids.empty());
  EXPECT_EQ(r.reason, StopReason::kMaxTokens);

  Generator small(story_model(), GeneratorConfig{10, 4});
  r = generate(small, "Once upon a time", greedy(100));  // 6 prompt tokens + 4 = 10
  EXPECT_EQ(r.ids.size(), 4u);
  EXPECT_EQ(r.reason, StopReason::kContext);

  // This prompt ends with eos after 5 tokens in the reference; with ignore_eos it runs on.
  const std::string prompt = "Once upon a time, there was a little girl named Lily.";
  GenerationOptions o = greedy(80);
  const GenRun stopped = generate(g, prompt, o);
  ASSERT_EQ(stopped.reason, StopReason::kEos);
  EXPECT_EQ(stopped.ids.back(), 2);
  o.ignore_eos = true;
  r = generate(g, prompt, o);
  EXPECT_EQ(r.ids.size(), 80u);
  EXPECT_EQ(r.reason, StopReason::kMaxTokens);
}

TEST(Generator, OverlongPromptFailsClearlyOrKeepsItsEnd) {
  Generator g(story_model(), GeneratorConfig{32, 8});
  std::string prompt;
  for (int i = 0; i < 40; ++i) prompt += "Once upon a time ";
  try {
    g.start(prompt, greedy(8));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kContextOverflow);
    EXPECT_NE(std::string(e.what()).find("context holds 32"), std::string::npos) << e.what();
  }
  // The session still works after the error.
  EXPECT_EQ(generate(g, "Once upon a time", greedy(3)).ids.size(), 3u);
  GenerationOptions o = greedy(8);
  o.truncate_prompt = true;
  const GenRun r = generate(g, prompt, o);
  EXPECT_EQ(g.prompt_ids().size(), 24u);  // 32 minus room for 8 new tokens
  EXPECT_EQ(g.prompt_ids()[0], 1);        // BOS kept
  EXPECT_EQ(r.ids.size(), 8u);
}

TEST(Generator, CancelThenStartAgain) {
  Generator g(story_model());
  const GenRun reference = generate(g, "Once upon a time", greedy(20));
  g.start("Lily and Ben", greedy(20));
  TokenEvent e;
  int tokens = 0;
  while (tokens < 3 && g.step(e) != Generator::Step::kDone) tokens += e.id >= 0;
  g.cancel();
  EXPECT_EQ(g.stop_reason(), StopReason::kCancelled);
  EXPECT_EQ(g.step(e), Generator::Step::kDone);
  EXPECT_EQ(generate(g, "Once upon a time", greedy(20)).ids, reference.ids);
}

// A stop string that is not valid UTF-8 (e.g. one starting with a
// continuation byte) made the hold-back split a character between two
// deltas ("é" arrived as C3, then A9): such strings are refused.
TEST(Generator, StopStringsMustBeValidUtf8) {
  Generator g(story_model(), GeneratorConfig{64, 8});
  for (const char* bad : {"\xA9X", "\xC3", "a\xFF", "\xED\xA0\x80"}) {
    GenerationOptions o = greedy(4);
    o.stop = {bad};
    try {
      g.start("Once upon a time", o);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find("valid UTF-8"), std::string::npos) << e.what();
    }
  }
  GenerationOptions o = greedy(4);
  o.stop = {"\u00e9", "\U0001F600", "the end"};
  EXPECT_NO_THROW(generate(g, "Once upon a time", o));
}

TEST(Generator, StepBeforeStartAndInvalidOptionsAreErrors) {
  Generator g(story_model());
  TokenEvent e;
  EXPECT_THROW(g.step(e), Error);
  GenerationOptions o;
  o.sampling.top_p = 0.0f;
  EXPECT_THROW(g.start("hi", o), Error);
  o = GenerationOptions{};
  o.max_tokens = -1;
  EXPECT_THROW(g.start("hi", o), Error);
  o = GenerationOptions{};
  o.stop = {""};
  EXPECT_THROW(g.start("hi", o), Error);
}

// One model, two sessions, interleaved step by step: each gives what it gives alone.
TEST(Generator, OneModelServesInterleavedSessions) {
  Generator a(story_model()), b(story_model());
  const GenRun alone_a = generate(a, "Once upon a time", greedy(30));
  const GenRun alone_b = generate(b, "Lily and Ben", greedy(30));
  a.start("Once upon a time", greedy(30));
  b.start("Lily and Ben", greedy(30));
  std::vector<int32_t> ids_a, ids_b;
  TokenEvent e;
  bool a_done = false, b_done = false;
  while (!a_done || !b_done) {
    if (!a_done) {
      const auto s = a.step(e);
      a_done = s == Generator::Step::kDone;
      if (s == Generator::Step::kToken) ids_a.push_back(e.id);
    }
    if (!b_done) {
      const auto s = b.step(e);
      b_done = s == Generator::Step::kDone;
      if (s == Generator::Step::kToken) ids_b.push_back(e.id);
    }
  }
  EXPECT_EQ(ids_a, alone_a.ids);
  EXPECT_EQ(ids_b, alone_b.ids);
}

// After the first few tokens (buffers warmed up), decode steps allocate nothing.
// A session's memory (KV cache, activations, sampler, text) is computed with
// overflow-safe arithmetic and checked against a limit before anything is
// allocated: a context or batch far beyond what the machine can hold is a
// kResourceLimit error naming the figures, not gigabytes of zeroed buffers.
TEST(Generator, SessionMemoryIsCheckedBeforeAllocating) {
  const ModelConfig& c = story_model()->config();
  const GeneratorConfig small{64, 8};
  Generator g(story_model(), small);
  const uint64_t need = Generator::bytes_needed(c, small);
  EXPECT_GE(need, g.memory_bytes());
  EXPECT_LT(need, g.memory_bytes() + (uint64_t{1} << 20));

  GeneratorConfig tight{512, 128, uint64_t{1} << 20};
  const uint64_t tight_need = Generator::bytes_needed(c, tight);
  try {
    Generator refused(story_model(), tight);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kResourceLimit) << msg;
    EXPECT_NE(msg.find("needs " + std::to_string(tight_need) + " bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("limit of 1048576 bytes"), std::string::npos) << msg;
  }

  // max_position_embeddings is not checked against the weights, so a config
  // may claim 2^20 positions; a session asking for all of them with a batch
  // as large would need about 7.5 GB: refused under an 8 MB limit, quickly.
  nlohmann::json config = test::read_json(test::story_model_dir() / "config.json");
  config["max_position_embeddings"] = 1 << 20;
  ModelFiles files = read_model_dir(test::story_model_dir());
  files.config_json = config.dump();
  const auto long_model = Model::load(std::move(files));
  const GeneratorConfig huge{1 << 20, 1 << 20, uint64_t{8} << 20};
  EXPECT_GT(Generator::bytes_needed(long_model->config(), huge), uint64_t{7} << 30);
  try {
    Generator refused(long_model, huge);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kResourceLimit) << e.what();
  }
  EXPECT_GE(default_session_memory_limit(), uint64_t{1} << 30);
}

TEST(Generator, DecodeStepsDoNotAllocate) {
  Generator g(story_model());
  GenerationOptions o;
  o.sampling.seed = 7;
  o.sampling.top_logprobs = 5;
  o.max_tokens = 100;
  o.ignore_eos = true;
  g.start("Once upon a time", o);
  TokenEvent e;
  e.text.reserve(256);
  e.top.reserve(20);
  for (int i = 0; i < 5; ++i) g.step(e);
  allocations = 0;
  counting = true;
  for (int i = 0; i < 50; ++i) g.step(e);
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
}

// ---------------------------------------------------------------- TextStream

// A tokenizer whose vocab has byte tokens, so text can end inside a character.
Tokenizer byte_tokenizer() {
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  int next = 259;
  for (const char* piece : {"\u2581", "a", "b", "c", "\u2581a", "\u2581b", "STOP", "ST", "OP"}) vocab[piece] = next++;
  const nlohmann::json j = {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 0}, {"content", "<unk>"}, {"special", true}, {"normalized", false}, {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
        {{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}, {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
        {{"id", 2}, {"content", "</s>"}, {"special", true}, {"normalized", false}, {"lstrip", false}, {"rstrip", false}, {"single_word", false}}}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\u2581"}}, {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true},
        {"vocab", vocab}, {"merges", nlohmann::json::array({"\u2581 a", "\u2581 b"})}}}};
  return Tokenizer::from_json(j.dump());
}

struct StreamRun {
  std::vector<std::string> deltas;
  std::string all;
  bool stopped = false;
};

StreamRun stream(const Tokenizer& tok, std::vector<int32_t> ids, size_t prompt_len, std::vector<std::string> stop = {}) {
  TextStream ts(tok);
  ts.begin({ids.data(), prompt_len}, stop);
  StreamRun r;
  for (size_t n = prompt_len + 1; n <= ids.size() && !r.stopped; ++n) {
    std::string delta;
    r.stopped = ts.update({ids.data(), n}, delta);
    r.deltas.push_back(delta);
    r.all += delta;
  }
  std::string tail;
  ts.finish(ids, tail);
  r.deltas.push_back(tail);
  r.all += tail;
  EXPECT_EQ(r.all, ts.text());
  return r;
}

int32_t byte(int b) { return 3 + b; }

TEST(TextStream, HoldsBackBytesUntilTheCharacterIsComplete) {
  const Tokenizer tok = byte_tokenizer();
  const int32_t a = *tok.token_to_id("\u2581a"), b = *tok.token_to_id("b");
  // "日" = E6 97 A5, arriving as three byte tokens, then "b".
  const StreamRun r = stream(tok, {1, a, byte(0xE6), byte(0x97), byte(0xA5), b}, 2);
  ASSERT_EQ(r.deltas.size(), 5u);
  EXPECT_EQ(r.deltas[0], "");
  EXPECT_EQ(r.deltas[1], "");
  EXPECT_EQ(r.deltas[2], "");  // the run is still open: the next byte could make it invalid
  EXPECT_EQ(r.deltas[3], "\u65e5b");
  EXPECT_EQ(r.all, "\u65e5b");
  for (const std::string& d : r.deltas) EXPECT_TRUE(valid_utf8(d));
}

TEST(TextStream, InvalidByteRunsBecomeReplacementCharacters) {
  const Tokenizer tok = byte_tokenizer();
  const int32_t a = *tok.token_to_id("\u2581a"), b = *tok.token_to_id("b");
  // A run that can never be valid UTF-8 is released, as HF decodes it, when it closes or at the end.
  StreamRun r = stream(tok, {1, a, byte(0xE6), b, byte(0xFF)}, 2);
  EXPECT_EQ(r.all, "\ufffdb\ufffd");
  EXPECT_EQ(r.all, tok.decode(std::vector<int32_t>{1, a, byte(0xE6), b, byte(0xFF)}).substr(1));
  // A complete character followed by a dangling lead byte turns the whole run into U+FFFDs.
  r = stream(tok, {1, a, byte(0xC3), byte(0xA9), byte(0xC3)}, 2);
  EXPECT_EQ(r.all, "\ufffd\ufffd\ufffd");
}

TEST(TextStream, StopStringsSpanningTokensAreHeldBackThenCut) {
  const Tokenizer tok = byte_tokenizer();
  const int32_t a = *tok.token_to_id("a"), c = *tok.token_to_id("c"), st = *tok.token_to_id("ST"),
                op = *tok.token_to_id("OP");
  StreamRun r = stream(tok, {1, a, c, st, op, a}, 1, {"STOP"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.all, "ac");
  EXPECT_EQ(r.deltas[2], "");  // "ST" held back: it may become "STOP"
  // A held-back prefix that does not become the stop string is released.
  r = stream(tok, {1, a, st, c, a}, 1, {"STOP"});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.deltas[1], "");
  EXPECT_EQ(r.deltas[2], "STc");
  EXPECT_EQ(r.all, "aSTca");
  // Held back until the end, then released by finish().
  r = stream(tok, {1, a, st}, 1, {"STOP"});
  EXPECT_EQ(r.deltas.back(), "ST");
  EXPECT_EQ(r.all, "aST");
}

}  // namespace
}  // namespace lm
