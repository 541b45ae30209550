// Replays the fuzz seed corpus (fuzz/corpus/<target>) and every past finding
// (fuzz/regressions/<target>) through the fuzz targets' own code
// (fuzz/targets.cpp), so the ordinary test run (and its AddressSanitizer /
// UBSan build) keeps checking them without clang or libFuzzer.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "error.h"
#include "targets.h"
#include "test_support.h"
#include "tokenizer.h"

namespace lm {
namespace {

namespace fs = std::filesystem;
using Target = std::function<void(const uint8_t*, size_t)>;

const Tokenizer& story_tokenizer() {
  static const Tokenizer t = Tokenizer::from_json(test::read_file(test::story_model_dir() / "tokenizer.json"));
  return t;
}

// Runs every file of fuzz/corpus/<name> and fuzz/regressions/<name>; returns how many.
size_t replay(const std::string& name, const Target& target) {
  size_t n = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(LM_SOURCE_DIR) / "fuzz" / kind / name;
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      SCOPED_TRACE(file.string());
      const std::string bytes = test::read_file(file);
      try {
        target(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      } catch (const std::exception& e) {
        ADD_FAILURE() << file << ": " << e.what();
      }
      ++n;
    }
  }
  return n;
}

TEST(FuzzReplay, Safetensors) { EXPECT_GT(replay("safetensors", fuzz::safetensors), 0u); }
TEST(FuzzReplay, Config) { EXPECT_GT(replay("config", fuzz::config), 0u); }
TEST(FuzzReplay, TokenizerJson) { EXPECT_GT(replay("tokenizer_json", fuzz::tokenizer_json), 0u); }
TEST(FuzzReplay, Sentencepiece) { EXPECT_GT(replay("sentencepiece", fuzz::sentencepiece), 0u); }
TEST(FuzzReplay, Model) { EXPECT_GT(replay("model", fuzz::model), 0u); }
TEST(FuzzReplay, TokenizerOps) {
  EXPECT_GT(replay("tokenizer_ops", [](const uint8_t* d, size_t n) { fuzz::tokenizer_ops(story_tokenizer(), d, n); }),
            0u);
}

// Multi-file inputs split at the separator, at most max_parts parts.
TEST(FuzzReplay, SplitParts) {
  const std::string s = "a" + std::string(fuzz::kSeparator) + "b" + std::string(fuzz::kSeparator) + "c";
  const auto* d = reinterpret_cast<const uint8_t*>(s.data());
  EXPECT_EQ(fuzz::split_parts(d, s.size(), 4), (std::vector<std::string_view>{"a", "b", "c"}));
  EXPECT_EQ(fuzz::split_parts(d, s.size(), 2).size(), 2u);
  EXPECT_EQ(fuzz::split_parts(d, 0, 3), (std::vector<std::string_view>{""}));
}

}  // namespace
}  // namespace lm
