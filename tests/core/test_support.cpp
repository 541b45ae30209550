#include "test_support.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace lm::test {

fs::path shared_dir() {
  if (const char* env = std::getenv("LM_SHARED_DIR"); env && *env) {
    if (fs::is_directory(env)) return fs::path(env);
    throw std::runtime_error(std::string("LM_SHARED_DIR=") + env + " is not a directory");
  }
  const fs::path candidate = fs::path(LM_SOURCE_DIR) / ".." / "shared";
  if (fs::is_directory(candidate)) return fs::weakly_canonical(candidate);
  throw std::runtime_error("reference files not found: expected " + candidate.string() +
                           " (or set LM_SHARED_DIR)");
}

fs::path golden_path(const std::string& file) { return shared_dir() / "golden" / file; }

fs::path story_model_dir() {
  const fs::path local = fs::path(LM_SOURCE_DIR) / "models" / "story";
  if (fs::exists(local / "model.safetensors")) return local;
  return shared_dir() / "models" / "story";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(read_file(path)); }

void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

namespace {
struct ScratchRoot {
  fs::path root;
  ScratchRoot() {
    root = fs::temp_directory_path() / ("lm-wasm-test-" + std::to_string(::getpid()));
    fs::create_directories(root);
  }
  ~ScratchRoot() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};
}  // namespace

fs::path scratch_dir(const std::string& name) {
  static ScratchRoot scratch;
  fs::path dir = scratch.root / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string safetensors_bytes(const std::vector<TensorBytes>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const TensorBytes& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  std::string text = header.dump();
  while (text.size() % 8) text += ' ';
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((uint64_t{text.size()} >> (8 * i)) & 0xff);
  return out + text + data;
}

std::vector<TensorBytes> read_safetensors_tensors(const fs::path& path, std::map<std::string, std::string>* metadata) {
  const std::string file = read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[static_cast<size_t>(i)]);
  const nlohmann::json header = nlohmann::json::parse(file.substr(8, n));
  std::vector<std::pair<uint64_t, TensorBytes>> found;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (metadata) *metadata = entry.get<std::map<std::string, std::string>>();
      continue;
    }
    const uint64_t begin = entry["data_offsets"][0], end = entry["data_offsets"][1];
    found.push_back({begin, {name, entry["dtype"], entry["shape"].get<std::vector<int64_t>>(),
                             file.substr(8 + n + begin, end - begin)}});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<TensorBytes> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

fs::path native_binary(const std::string& name) { return fs::path(LM_NATIVE_BUILD_DIR) / name; }

}  // namespace lm::test
