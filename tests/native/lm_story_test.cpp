// The native CLI as a user runs it: output formats, and one-line errors with
// a non-zero exit (never a crash) for every kind of malformed input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "test_support.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  bool crashed = false;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Result run_cli(const std::vector<std::string>& args) {
  const fs::path err_file = test::scratch_dir("cli-stderr") / "err.txt";
  std::string cmd = quote(test::native_binary("lm-story").string());
  for (const auto& a : args) cmd.append(" ").append(quote(a));
  cmd.append(" 2>").append(quote(err_file.string()));
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.crashed = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) > 128);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = test::read_file(err_file);
  return r;
}

// A copy of the story model folder with one file replaced.
fs::path model_with(const std::string& name, const std::string& file, const std::string& bytes) {
  const fs::path dir = test::scratch_dir(name);
  for (const char* f : {"config.json", "tokenizer.json", "model.safetensors"})
    fs::copy_file(test::story_model_dir() / f, dir / f);
  test::write_file(dir / file, bytes);
  return dir;
}

void expect_one_line_error(const Result& r, const std::string& needle) {
  EXPECT_FALSE(r.crashed) << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(LmStory, JsonGreedyOutputMatchesTheReference) {
  const nlohmann::json golden = test::read_json(test::golden_path("story-greedy.json"));
  for (const auto& c : golden["cases"]) {
    const Result r = run_cli({"--model", test::story_model_dir().string(), "--prompt", c["prompt"], "--temperature",
                              "0", "--max-tokens", "64", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string line, streamed;
    std::vector<int32_t> ids;
    nlohmann::json done;
    while (std::getline(lines, line)) {
      const nlohmann::json j = nlohmann::json::parse(line);
      if (j.contains("done")) {
        done = j;
        break;
      }
      ids.push_back(j["id"]);
      streamed += j["text"].get<std::string>();
    }
    EXPECT_EQ(done["ids"], c["generated_ids"]);
    EXPECT_EQ(ids, c["generated_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(done["prompt_ids"], c["prompt_ids"]);
    EXPECT_EQ(done["text"], c["continuation_text"]);
    EXPECT_EQ(streamed, c["continuation_text"].get<std::string>());
    EXPECT_EQ(done["reason"], c["stopped_at_eos"].get<bool>() ? "eos" : "max_tokens");
    EXPECT_TRUE(done["prefill_ms"].is_number());
    EXPECT_TRUE(done["decode_tokens_per_s"].is_number());
  }
}

TEST(LmStory, TokenizeAndDetokenize) {
  const std::string dir = test::story_model_dir().string();
  Result r = run_cli({"--model", dir, "--tokenize", "Once upon a time"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[1,80,147,201,282,57]\n");
  r = run_cli({"--model", dir, "--detokenize", "[1, 80, 147, 201, 282, 57]"});
  EXPECT_EQ(r.out, "Once upon a time\n");
  r = run_cli({"--model", dir, "--detokenize", "1,80,147"});
  EXPECT_EQ(r.out, "On\n");  // 147 is "On"; "ce▁" (201) completes the word
  expect_one_line_error(run_cli({"--model", dir, "--detokenize", "1,99999"}), "99999");
}

TEST(LmStory, PlainOutputStreamsPromptAndStory) {
  const Result r = run_cli({"--model", test::story_model_dir().string(), "--seed", "42", "--max-tokens", "40"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon a time", 0), 0u);
  EXPECT_GT(r.out.size(), 60u);
  // Same seed, same story.
  EXPECT_EQ(run_cli({"--model", test::story_model_dir().string(), "--seed", "42", "--max-tokens", "40"}).out, r.out);
}

TEST(LmStory, MalformedFilesGiveOneLineErrors) {
  const std::string st = test::read_file(test::story_model_dir() / "model.safetensors");
  const std::string config = test::read_file(test::story_model_dir() / "config.json");
  struct Case {
    std::string name, file, bytes, needle;
  };
  std::string huge_len = st;
  for (int i = 0; i < 8; ++i) huge_len[static_cast<size_t>(i)] = i == 4 ? '\x02' : '\0';  // 8 GiB header
  std::string bad_dtype = st;
  const size_t at = bad_dtype.find("\"F32\"");
  bad_dtype.replace(at, 5, "\"I64\"");
  nlohmann::json wrong_shape = nlohmann::json::parse(config);
  wrong_shape["hidden_size"] = 64;
  wrong_shape["num_attention_heads"] = 4;
  wrong_shape["num_key_value_heads"] = 2;
  const std::vector<Case> cases = {
      {"truncated", "model.safetensors", st.substr(0, st.size() / 2), "model.safetensors"},
      {"tiny", "model.safetensors", st.substr(0, 5), "model.safetensors"},
      {"huge-header", "model.safetensors", huge_len, "model.safetensors"},
      {"bad-json-header", "model.safetensors", st.substr(0, 8) + std::string(st.size() - 8, '{'), "model.safetensors"},
      {"unknown-dtype", "model.safetensors", bad_dtype, "I64"},
      {"config-not-json", "config.json", "{ not json", "config.json"},
      {"config-wrong-type", "config.json", R"({"hidden_size": "big"})", "hidden_size"},
      {"config-shape", "config.json", wrong_shape.dump(), "expected"},
      {"tokenizer-not-json", "tokenizer.json", "[1, 2", "tokenizer.json"},
      {"tokenizer-unsupported", "tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {}}})", "WordPiece"},
      {"empty-config", "config.json", "", "config.json"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path dir = model_with(c.name, c.file, c.bytes);
    expect_one_line_error(run_cli({"--model", dir.string(), "--max-tokens", "4"}), c.needle);
  }
}

TEST(LmStory, MissingFilesAndBadOptions) {
  expect_one_line_error(run_cli({"--model", "/no/such/dir"}), "/no/such/dir");
  const fs::path dir = test::scratch_dir("missing-tokenizer");
  fs::copy_file(test::story_model_dir() / "config.json", dir / "config.json");
  fs::copy_file(test::story_model_dir() / "model.safetensors", dir / "model.safetensors");
  expect_one_line_error(run_cli({"--model", dir.string()}), "tokenizer.json");

  const std::string model = test::story_model_dir().string();
  expect_one_line_error(run_cli({"--model", model, "--temperature", "-1"}), "temperature");
  expect_one_line_error(run_cli({"--model", model, "--top-p", "0"}), "topP");
  expect_one_line_error(run_cli({"--model", model, "--top-k", "-2"}), "topK");
  std::string long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt += "Once upon a time ";
  expect_one_line_error(run_cli({"--model", model, "--prompt", long_prompt}), "context");
  const Result usage = run_cli({"--model", model, "--max-tokens", "ten"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("--max-tokens"), std::string::npos);
  EXPECT_EQ(run_cli({"--bogus"}).exit_code, 2);
}

// With no --model and no local copy, the download from the hub is tried and,
// without network access to it, fails quickly and clearly.
TEST(LmStory, HubDownloadFailsClearlyWhenUnreachable) {
  const fs::path cwd = test::scratch_dir("no-model-here");
  const std::string cmd = "cd " + quote(cwd.string()) + " && timeout 60 " +
                          quote(test::native_binary("lm-story").string()) + " --model someone/missing-model 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << out;
  EXPECT_NE(out.find("could not download https://huggingface.co/someone/missing-model/resolve/main/"), std::string::npos) << out;
}

}  // namespace
}  // namespace lm
