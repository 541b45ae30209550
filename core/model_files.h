// Blob and ModelFiles: the bytes a model is made from, before parsing.
//
// A Blob owns one file's bytes (64-byte aligned, so f32/bf16 tensors whose
// offsets are aligned can be used in place). In WebAssembly, JS allocates a
// Blob of the right size and writes the downloaded bytes straight into it:
// that is the only copy of the weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lm {

class Blob {
 public:
  Blob() = default;
  // Uninitialised storage of `size` bytes. Throws lm::Error(kResourceLimit) if it cannot be allocated.
  static Blob allocate(size_t size);
  // The whole file. Throws lm::Error(kIo) naming the path.
  static Blob read_file(const std::filesystem::path& path);

  std::byte* data() { return data_.get(); }
  const std::byte* data() const { return data_.get(); }
  size_t size() const { return size_; }
  // Keeps the first n bytes (n <= size()) and returns the rest to the
  // allocator. The block may move: views into it must be rebased.
  void shrink(size_t n);
  void release() {
    data_.reset();
    size_ = 0;
  }

 private:
  struct Free {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte, Free> data_;
  size_t size_ = 0;
};

struct ModelShard {
  std::string label;  // file name, used in error messages
  Blob bytes;
};

// Everything Model::load needs.
struct ModelFiles {
  std::string config_json;     // config.json text
  std::string tokenizer_json;  // tokenizer.json text; empty when the model has only tokenizer.model
  std::optional<Blob> tokenizer_model;  // SentencePiece tokenizer.model, used when there is no tokenizer.json
  std::vector<ModelShard> shards;  // model.safetensors, or the shards of model.safetensors.index.json
  std::optional<std::string> generation_config_json;  // generation_config.json text, when the model has one
  std::optional<std::string> tokenizer_config_json;   // tokenizer_config.json text (its chat template), when present
};

// Reads config.json, tokenizer.json (or, without one, tokenizer.model) and model.safetensors (or every shard
// named by model.safetensors.index.json) from a folder, and
// generation_config.json when it exists. Throws lm::Error(kIo) naming the
// missing or unreadable file.
ModelFiles read_model_dir(const std::filesystem::path& dir);

// Reads a text file whole. Throws lm::Error(kIo) naming the path, or
// kResourceLimit when it has more than `max_bytes` bytes.
std::string read_text_file(const std::filesystem::path& path, size_t max_bytes = SIZE_MAX);

}  // namespace lm
