#include "safetensors.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <set>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "error.h"

namespace lm {
namespace {

// nlohmann's DOM builder keeps an explicit stack, but the depth is still
// bounded so a hostile header cannot make us build (and later walk or destroy)
// an arbitrarily deep tree. Real headers are 2 levels deep.
constexpr int kMaxJsonDepth = 64;
// Real headers are a few MB at most (~100 bytes per tensor); the bound keeps a
// corrupt length from making us parse gigabytes.
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

[[noreturn]] void fail(ErrorKind kind, const std::string& label, const std::string& problem) {
  throw Error(kind, label + ": " + problem);
}

// Text taken from a file, made safe for a one-line error message: control
// bytes (and, if `ascii_only`, non-ASCII bytes) escaped, length bounded.
std::string printable(std::string_view s, bool ascii_only = false, size_t max_len = 120) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || (ascii_only && c >= 0x80)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

// nlohmann's message without its "[json.exception.parse_error.101] " prefix.
std::string json_error_text(const std::exception& e) {
  std::string w = e.what();
  if (!w.empty() && w[0] == '[') {
    const size_t p = w.find("] ");
    if (p != std::string::npos) w.erase(0, p + 2);
  }
  return printable(w, /*ascii_only=*/true, 200);
}

// Parses `text`, rejecting nesting deeper than kMaxJsonDepth. `on_key(depth,
// key)` sees every object key as it is read (for duplicate detection).
template <class Json, class OnKey>
Json parse_json_bounded(std::string_view text, const std::string& label, OnKey on_key) {
  using Event = typename Json::parse_event_t;
  auto callback = [&](int depth, Event event, Json& parsed) {
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth)
      fail(ErrorKind::kFormat, label, "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    if (event == Event::key) on_key(depth, parsed.template get_ref<const std::string&>());
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
    fail(ErrorKind::kFormat, label, "invalid JSON: " + json_error_text(e));
  }
}

// A name from the file, quoted for a message. (Built with += : GCC 12 gives a
// false -Wrestrict for "'" + std::string&&.)
std::string name_text(std::string_view name) {
  std::string s(1, '\'');
  s += printable(name);
  s += '\'';
  return s;
}

uint64_t read_le64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<uint64_t>(p[i]);
  return v;
}

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "F32") *out = DType::kF32;
  else if (s == "F16") *out = DType::kF16;
  else if (s == "BF16") *out = DType::kBF16;
  else return false;
  return true;
}

// One header entry -> TensorInfo; every number is checked before it is used.
TensorInfo parse_entry(const std::string& name, const nlohmann::json& entry, uint64_t data_size,
                       const std::string& label) {
  const std::string where = "tensor " + name_text(name);
  auto bad = [&](const std::string& problem) { fail(ErrorKind::kFormat, label, where + ": " + problem); };
  if (!entry.is_object()) bad("entry is not an object");

  TensorInfo info;
  info.name = name;

  const auto dtype = entry.find("dtype");
  if (dtype == entry.end() || !dtype->is_string()) bad("missing or non-string \"dtype\"");
  if (!parse_dtype(dtype->get_ref<const std::string&>(), &info.dtype))
    fail(ErrorKind::kUnsupported, label,
         where + " has dtype " + printable(dtype->get_ref<const std::string&>()) + "; supported: F32, F16, BF16");

  const auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array()) bad("missing or non-array \"shape\"");
  if (shape->size() > static_cast<size_t>(kMaxRank))
    bad("rank " + std::to_string(shape->size()) + " exceeds the maximum of " + std::to_string(kMaxRank));
  info.shape.rank = static_cast<int>(shape->size());
  // The product of the non-zero dims must fit int64, so numel() and the
  // row-major strides computed from this shape can never overflow.
  constexpr auto kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t product = 1;
  for (size_t i = 0; i < shape->size(); ++i) {
    const auto& d = (*shape)[i];
    if (!d.is_number_unsigned() || d.get<uint64_t>() > kInt64Max)
      bad("shape dimension " + printable(d.dump()) + " is not a non-negative integer");
    const uint64_t v = d.get<uint64_t>();
    info.shape.dims[i] = static_cast<int64_t>(v);
    if (v != 0) {
      if (product > kInt64Max / v) bad("shape " + printable(shape->dump()) + " has more elements than int64 can count");
      product *= v;
    }
  }

  const auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned())
    bad("\"data_offsets\" must be two non-negative integers");
  info.begin = (*offsets)[0].get<uint64_t>();
  info.end = (*offsets)[1].get<uint64_t>();
  if (info.begin > info.end)
    bad("data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "] run backwards");
  if (info.end > data_size)
    bad("data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
        "] run past the end of the data section (" + std::to_string(data_size) + " bytes)");

  const auto numel = static_cast<uint64_t>(info.shape.numel());  // cannot overflow, checked above
  const uint64_t elem = dtype_size(info.dtype);
  if (numel > std::numeric_limits<uint64_t>::max() / elem || numel * elem != info.end - info.begin)
    bad("shape " + info.shape.str() + " of " + dtype_name(info.dtype) + " needs " +
        (numel > std::numeric_limits<uint64_t>::max() / elem ? std::string("more than 2^64")
                                                               : std::to_string(numel * elem)) +
        " bytes but data_offsets span " + std::to_string(info.end - info.begin));
  return info;
}

}  // namespace

SafetensorsFile SafetensorsFile::parse(const std::byte* bytes, size_t size, std::string label) {
  if (size < 8)
    fail(ErrorKind::kFormat, label,
         "file too small (" + std::to_string(size) + " bytes; a safetensors file starts with an 8-byte header length)");
  const uint64_t header_len = read_le64(bytes);
  const uint64_t after_len = size - 8;
  if (header_len > after_len)
    fail(ErrorKind::kFormat, label,
         "header length " + std::to_string(header_len) + " exceeds the file size (" + std::to_string(size) +
             " bytes); the file is truncated or not a safetensors file");
  if (header_len > kMaxHeaderBytes)
    fail(ErrorKind::kFormat, label,
         "header length " + std::to_string(header_len) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
             " bytes");
  const uint64_t data_size = after_len - header_len;

  // Duplicate tensor names: nlohmann would silently keep the last one.
  std::set<std::string> seen;
  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), static_cast<size_t>(header_len));
  const nlohmann::json header = parse_json_bounded<nlohmann::json>(text, label, [&](int depth, const std::string& key) {
    if (depth == 1 && !seen.insert(key).second)
      fail(ErrorKind::kFormat, label, "header lists tensor " + name_text(key) + " twice");
  });
  if (!header.is_object()) fail(ErrorKind::kFormat, label, "header is not a JSON object");

  SafetensorsFile file;
  file.label_ = std::move(label);
  file.data_ = bytes + 8 + header_len;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(ErrorKind::kFormat, file.label_, "__metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string())
          fail(ErrorKind::kFormat, file.label_,
               "__metadata__ value for " + name_text(key) + " is a " + value.type_name() + ", not a string");
        file.metadata_.emplace(key, value.get<std::string>());
      }
      continue;
    }
    file.tensors_.push_back(parse_entry(name, entry, data_size, file.label_));
  }

  // File order; then no two non-empty byte ranges may overlap. (Empty tensors
  // own no bytes, so they may sit anywhere.)
  std::stable_sort(file.tensors_.begin(), file.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const TensorInfo* prev = nullptr;
  for (const TensorInfo& t : file.tensors_) {
    if (t.begin == t.end) continue;
    if (prev && t.begin < prev->end)
      fail(ErrorKind::kFormat, file.label_,
           "tensors " + name_text(prev->name) + " [" + std::to_string(prev->begin) + ", " + std::to_string(prev->end) +
               ") and " + name_text(t.name) + " [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
               ") overlap");
    prev = &t;
  }
  return file;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

// The pointer is data_section() + begin, so its alignment is whatever the file
// gives: the data section starts at 8 + header length, which need not be a
// multiple of 4. Callers that read F32/F16 directly must check alignment (the
// model loader copies misaligned tensors).
WeightRef SafetensorsFile::weight(const TensorInfo& info) const {
  WeightRef w;
  w.dtype = info.dtype;
  w.shape = info.shape;
  w.data = data_ + static_cast<size_t>(info.begin);  // begin <= data size <= size_t, checked in parse()
  return w;
}

// ----------------------------------------------------------- Checkpoint ---

void Checkpoint::add(SafetensorsFile file) {
  for (const SafetensorsFile& other : files_) {
    std::unordered_set<std::string_view> names;
    for (const TensorInfo& t : other.tensors()) names.insert(t.name);
    for (const TensorInfo& t : file.tensors())
      if (names.count(t.name))
        fail(ErrorKind::kFormat, file.label(), "tensor " + name_text(t.name) + " is also in " + other.label());
  }
  files_.push_back(std::move(file));
}

std::pair<const TensorInfo*, const SafetensorsFile*> Checkpoint::find(std::string_view name) const {
  for (const SafetensorsFile& f : files_)
    if (const TensorInfo* t = f.find(name)) return {t, &f};
  return {nullptr, nullptr};
}

size_t Checkpoint::tensor_count() const {
  size_t n = 0;
  for (const SafetensorsFile& f : files_) n += f.tensors().size();
  return n;
}

// ----------------------------------------------------------------- index ---

std::vector<std::string> parse_safetensors_index(std::string_view json_text) {
  const std::string label = "model.safetensors.index.json";
  if (json_text.size() > kMaxIndexJsonBytes)
    fail(ErrorKind::kResourceLimit, label,
         "the file has " + std::to_string(json_text.size()) + " bytes; at most " + std::to_string(kMaxIndexJsonBytes) +
             " are accepted");
  // ordered_json keeps the text's key order, which gives "first use" order.
  const auto index = parse_json_bounded<nlohmann::ordered_json>(json_text, label, [](int, const std::string&) {});
  if (!index.is_object()) fail(ErrorKind::kFormat, label, "not a JSON object");
  const auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object()) fail(ErrorKind::kFormat, label, "missing or non-object \"weight_map\"");
  if (map->empty()) fail(ErrorKind::kFormat, label, "\"weight_map\" is empty");

  std::vector<std::string> files;
  std::set<std::string> seen;
  for (const auto& [tensor, file] : map->items()) {
    if (!file.is_string())
      fail(ErrorKind::kFormat, label, "weight_map entry for " + name_text(tensor) + " is not a string");
    const auto& name = file.get_ref<const std::string&>();
    // The loader joins this with the model folder: a plain file name only.
    if (name.empty() || name == "." || name == ".." || name.find_first_of("/\\") != std::string::npos)
      fail(ErrorKind::kFormat, label,
           "weight_map entry for " + name_text(tensor) + " names " + name_text(name) + ", not a plain file name");
    if (seen.insert(name).second) files.push_back(name);
  }
  return files;
}

}  // namespace lm
