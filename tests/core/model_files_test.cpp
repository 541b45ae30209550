// Blob and read_model_dir: sizes and file kinds are checked before anything
// sized by them is allocated or read.
#include "model_files.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>

#include "config.h"
#include "error.h"
#include "test_support.h"
#include "tokenizer.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

void expect_error(const std::function<void()>& fn, ErrorKind kind, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// A model folder with the story model's files, to break one at a time.
fs::path story_copy(const std::string& name) {
  const fs::path dir = test::scratch_dir(name);
  for (const char* f : {"config.json", "tokenizer.json", "model.safetensors"})
    fs::copy_file(test::story_model_dir() / f, dir / f);
  return dir;
}

TEST(Blob, AllocatesAlignedAndRefusesSizesThatWouldWrap) {
  Blob b = Blob::allocate(100);
  EXPECT_EQ(b.size(), 100u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
  EXPECT_NE(Blob::allocate(0).data(), nullptr);
  // Rounding these up to 64 bytes used to wrap around to a 64-byte block that
  // claimed to be SIZE_MAX - 10 bytes long (in wasm: any size above 2^32 - 64,
  // which Buffer accepts, and JS then writes that many bytes into it).
  expect_error([] { Blob::allocate(SIZE_MAX - 10); }, ErrorKind::kResourceLimit, "cannot allocate");
  expect_error([] { Blob::allocate(SIZE_MAX - 62); }, ErrorKind::kResourceLimit, "cannot allocate");
}

TEST(ReadModelDir, ReadsTheStoryModel) {
  const ModelFiles files = read_model_dir(story_copy("read-ok"));
  EXPECT_FALSE(files.config_json.empty());
  EXPECT_FALSE(files.tokenizer_json.empty());
  ASSERT_EQ(files.shards.size(), 1u);
  EXPECT_EQ(files.shards[0].bytes.size(), fs::file_size(test::story_model_dir() / "model.safetensors"));
}

// fopen() opens a directory, and its "size" was LONG_MAX: read_text_file then
// threw std::length_error (not an lm::Error), Blob::read_file reported an
// out-of-memory error for 2^63 bytes.
TEST(ReadModelDir, ADirectoryInPlaceOfAFileIsAnIoError) {
  fs::path dir = story_copy("dir-config");
  fs::remove(dir / "config.json");
  fs::create_directory(dir / "config.json");
  expect_error([&] { read_model_dir(dir); }, ErrorKind::kIo, "config.json: not a regular file");
  dir = story_copy("dir-weights");
  fs::remove(dir / "model.safetensors");
  fs::create_directory(dir / "model.safetensors");
  expect_error([&] { read_model_dir(dir); }, ErrorKind::kIo, "model.safetensors: not a regular file");
}

// The JSON files' bounds apply before they are read (the files here are
// sparse: nothing is written or read).
TEST(ReadModelDir, OversizedJsonFilesAreRefusedBeforeReading) {
  fs::path dir = story_copy("big-config");
  fs::resize_file(dir / "config.json", kMaxConfigJsonBytes + 1);
  expect_error([&] { read_model_dir(dir); }, ErrorKind::kResourceLimit, "config.json: the file has 1048577 bytes");
  dir = story_copy("big-tokenizer");
  fs::resize_file(dir / "tokenizer.json", kMaxTokenizerJsonBytes + 1);
  expect_error([&] { read_model_dir(dir); }, ErrorKind::kResourceLimit, "tokenizer.json: the file has 67108865 bytes");
  dir = story_copy("big-generation-config");
  test::write_file(dir / "generation_config.json", "{}");
  fs::resize_file(dir / "generation_config.json", kMaxConfigJsonBytes + 1);
  expect_error([&] { read_model_dir(dir); }, ErrorKind::kResourceLimit, "generation_config.json");
  expect_error([&] { read_text_file(dir / "generation_config.json", 10); }, ErrorKind::kResourceLimit, "at most 10");
}

// tokenizer_config.json holds chat templates (and often the added-token
// table): real ones pass 1 MB, so it has the tokenizer's bound, not
// config.json's (it was refused above 1 MB).
TEST(ReadModelDir, TokenizerConfigHasTheTokenizerBound) {
  fs::path dir = story_copy("big-tokenizer-config");
  std::string text = R"({"chat_template": "{{ messages }}", "padding": ")";
  text += std::string(kMaxConfigJsonBytes + 100, ' ');
  text += "\"}";
  test::write_file(dir / "tokenizer_config.json", text);
  const ModelFiles files = read_model_dir(dir);
  ASSERT_TRUE(files.tokenizer_config_json.has_value());
  EXPECT_EQ(files.tokenizer_config_json->size(), text.size());
  fs::resize_file(dir / "tokenizer_config.json", kMaxTokenizerJsonBytes + 1);
  expect_error([&] { read_model_dir(dir); }, ErrorKind::kResourceLimit, "tokenizer_config.json");
}

}  // namespace
}  // namespace lm
