#include "chat.h"

#include <nlohmann/json.hpp>

#include "error.h"

namespace lm {

namespace {

std::string template_text(const nlohmann::json& t) {
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array())  // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
    for (const auto& entry : t) {
      // (Compared as JSON: a "name" that is not a string is just not "default".)
      if (!entry.is_object()) continue;
      const auto name = entry.find("name"), text = entry.find("template");
      if (name != entry.end() && *name == "default" && text != entry.end() && text->is_string())
        return text->get<std::string>();
    }
  throw Error(ErrorKind::kFormat, "tokenizer_config.json: \"chat_template\" must be a string or a list with a \"default\" entry");
}

// Llama 3 strips the content's surrounding whitespace; the others keep it.
std::string_view trimmed(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\n\r");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\n\r") - b + 1);
}

}  // namespace

std::optional<ChatTemplate> ChatTemplate::from_tokenizer_config(std::string_view json_text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kFormat, std::string("tokenizer_config.json: invalid JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("chat_template") || j["chat_template"].is_null()) return std::nullopt;
  const std::string t = template_text(j["chat_template"]);
  if (t.find("<|im_start|>") != std::string::npos) return ChatTemplate(Kind::kChatML);
  if (t.find("<|start_header_id|>") != std::string::npos) return ChatTemplate(Kind::kLlama3);
  if (t.find("<|user|>") != std::string::npos && t.find("<|assistant|>") != std::string::npos)
    return ChatTemplate(Kind::kZephyr);
  throw Error(ErrorKind::kUnsupported,
              "tokenizer_config.json: unsupported chat template (lm-wasm recognizes ChatML <|im_start|>, "
              "Llama 3 <|start_header_id|> and Zephyr <|user|>/<|assistant|> templates)");
}

const char* ChatTemplate::name() const {
  switch (kind_) {
    case Kind::kChatML: return "chatml";
    case Kind::kLlama3: return "llama3";
    case Kind::kZephyr: return "zephyr";
  }
  return "?";
}

std::string_view ChatTemplate::end_of_turn() const {
  switch (kind_) {
    case Kind::kChatML: return "<|im_end|>";
    case Kind::kLlama3: return "<|eot_id|>";
    case Kind::kZephyr: return "</s>";
  }
  return {};
}

std::string ChatTemplate::format(const std::vector<ChatMessage>& messages) const {
  if (messages.empty()) throw Error(ErrorKind::kInvalidArgument, "chat: messages must not be empty");
  for (const ChatMessage& m : messages)
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      throw Error(ErrorKind::kInvalidArgument, "chat: message role must be system, user or assistant, got '" + m.role + "'");
  std::string out;
  switch (kind_) {
    case Kind::kChatML:
      for (const ChatMessage& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      out += "<|im_start|>assistant\n";
      break;
    case Kind::kLlama3:
      out = "<|begin_of_text|>";
      for (const ChatMessage& m : messages)
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + std::string(trimmed(m.content)) + "<|eot_id|>";
      out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case Kind::kZephyr:
      for (const ChatMessage& m : messages) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
      out += "<|assistant|>\n";
      break;
  }
  return out;
}

}  // namespace lm
