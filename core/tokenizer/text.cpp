#include "tokenizer/text.h"

namespace lm::tok {

std::string sanitize_utf8(std::string_view s) {
  if (unicode::is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  size_t bad = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = unicode::utf8_sequence_at(s, i, bad);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      i += bad;
    } else {
      out.append(s, i, len);
      i += len;
    }
  }
  return out;
}

void make_valid_utf8(std::string& text) {
  size_t bad = 0;
  size_t grown = text.size();
  bool valid = true;
  for (size_t i = 0; i < text.size();) {
    const size_t len = unicode::utf8_sequence_at(text, i, bad);
    if (len == 0) {
      valid = false;
      grown += 3 - bad;
      i += bad;
    } else {
      i += len;
    }
  }
  if (valid) return;
  // Move the text to the end of the grown buffer and rewrite it from the
  // front: each subsequence of 1-3 bytes becomes 3, so the writer never
  // passes the reader.
  const size_t old_size = text.size();
  text.resize(grown);
  size_t read = grown - old_size;
  std::char_traits<char>::move(text.data() + read, text.data(), old_size);
  size_t write = 0;
  while (read < grown) {
    const std::string_view rest(text.data() + read, grown - read);
    const size_t len = unicode::utf8_sequence_at(rest, 0, bad);
    if (len == 0) {
      std::char_traits<char>::copy(text.data() + write, "\xEF\xBF\xBD", 3);
      write += 3;
      read += bad;
    } else {
      std::char_traits<char>::move(text.data() + write, text.data() + read, len);
      write += len;
      read += len;
    }
  }
  text.resize(write);
}

void replace_all(std::string& text, std::string_view pattern, std::string_view content) {
  if (pattern.empty()) return;
  size_t pos = text.find(pattern);
  if (pos == std::string::npos) return;
  // The unread input is text[read, end). It starts at 0 unless the text grows:
  // then it is first moved to the end of the grown buffer. Either way the
  // writer never passes the reader, so a pass from the front rewrites it.
  size_t read = 0;
  if (content.size() > pattern.size()) {
    size_t count = 0;
    for (size_t p = pos; p != std::string::npos; p = text.find(pattern, p + pattern.size())) ++count;
    const size_t old_size = text.size();
    text.resize(old_size + count * (content.size() - pattern.size()));
    read = text.size() - old_size;
    std::char_traits<char>::move(text.data() + read, text.data(), old_size);
    pos += read;
  }
  char* data = text.data();
  const std::string_view view(data, text.size());
  size_t write = 0;
  for (; pos != std::string::npos; pos = view.find(pattern, read)) {
    std::char_traits<char>::move(data + write, data + read, pos - read);
    write += pos - read;
    std::char_traits<char>::copy(data + write, content.data(), content.size());
    write += content.size();
    read = pos + pattern.size();
  }
  std::char_traits<char>::move(data + write, data + read, view.size() - read);
  text.resize(write + view.size() - read);
}

}  // namespace lm::tok
