// Helpers shared by the core tests: where the reference files are, reading
// files, scratch directories.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lm::test {

// ../shared (next to the checkout) or $LM_SHARED_DIR. A missing directory is
// a test failure with a message saying where it looked, never a skip.
std::filesystem::path shared_dir();
std::filesystem::path golden_path(const std::string& file);  // shared/golden/<file>
// The story model folder, searched like the CLI does: models/story, then ../shared/models/story.
std::filesystem::path story_model_dir();

std::string read_file(const std::filesystem::path& path);
nlohmann::json read_json(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& bytes);

// A fresh empty directory under the system temp dir, removed at process exit.
std::filesystem::path scratch_dir(const std::string& name);

// A tensor to write into a test safetensors file.
struct TensorBytes {
  std::string name;
  std::string dtype;             // "F32", "F16", "BF16", or anything for error tests
  std::vector<int64_t> shape;
  std::string bytes;             // raw little-endian data
};
// A complete safetensors file (header padded to 8 bytes, tensors in order).
std::string safetensors_bytes(const std::vector<TensorBytes>& tensors,
                              const std::map<std::string, std::string>& metadata = {});
// Every tensor of an existing safetensors file, in file order, with its metadata.
std::vector<TensorBytes> read_safetensors_tensors(const std::filesystem::path& path,
                                                  std::map<std::string, std::string>* metadata = nullptr);

// Path of a native executable built next to the tests (e.g. "lm-story").
std::filesystem::path native_binary(const std::string& name);

}  // namespace lm::test
