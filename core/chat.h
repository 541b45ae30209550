// ChatTemplate: turning a list of messages into a prompt, for models that
// ship a chat template.
//
// Hugging Face models carry a Jinja template in tokenizer_config.json. lm-wasm
// does not run Jinja: it recognizes the common template families by their
// markers and formats messages the way those templates do (without the extra
// logic some add, such as a default system prompt or tool calls):
//   ChatML (Qwen, SmolLM)   <|im_start|>role\ncontent<|im_end|>\n ... <|im_start|>assistant\n
//   Llama 3                 <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> ...
//   Zephyr (TinyLlama chat) <|role|>\ncontent</s>\n ... <|assistant|>\n
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lm {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

class ChatTemplate {
 public:
  enum class Kind { kChatML, kLlama3, kZephyr };

  // The template family of a tokenizer_config.json's "chat_template" (a
  // string, or a list of named templates whose "default" is used). nullopt
  // when there is no template; lm::Error(kUnsupported) naming the markers it
  // looked for when there is one lm-wasm does not recognize; kFormat for
  // malformed JSON.
  static std::optional<ChatTemplate> from_tokenizer_config(std::string_view json_text);

  Kind kind() const { return kind_; }
  const char* name() const;

  // The prompt for `messages`, ending with the assistant turn's header.
  // Throws lm::Error(kInvalidArgument) for an unknown role or no messages.
  std::string format(const std::vector<ChatMessage>& messages) const;

  // The token text that ends an assistant turn (its id stops generation).
  std::string_view end_of_turn() const;

  // Whether the formatted prompt already starts with BOS (so the tokenizer
  // must not add another).
  bool includes_bos() const { return kind_ == Kind::kLlama3; }

 private:
  explicit ChatTemplate(Kind kind) : kind_(kind) {}
  Kind kind_;
};

}  // namespace lm
