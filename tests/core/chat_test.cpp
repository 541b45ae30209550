#include "chat.h"

#include <gtest/gtest.h>

#include "error.h"

namespace lm {
namespace {


TEST(ChatTemplate, RecognizesTheCommonFamilies) {
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(R"({"chat_template": "{{'<|im_start|>' + m}}"})")->kind(), ChatTemplate::Kind::kChatML);
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(R"({"chat_template": "<|start_header_id|>"})")->kind(), ChatTemplate::Kind::kLlama3);
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(R"({"chat_template": "<|user|> ... <|assistant|>"})")->kind(), ChatTemplate::Kind::kZephyr);
  // A list of named templates: the "default" one counts.
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(
                R"({"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "<|im_start|>"}]})")
                ->kind(),
            ChatTemplate::Kind::kChatML);
  EXPECT_FALSE(ChatTemplate::from_tokenizer_config(R"({"bos_token": "<s>"})").has_value());
  EXPECT_FALSE(ChatTemplate::from_tokenizer_config(R"({"chat_template": null})").has_value());
}

TEST(ChatTemplate, RefusesWhatItDoesNotKnow) {
  try {
    ChatTemplate::from_tokenizer_config(R"({"chat_template": "[INST] {{ m }} [/INST]"})");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("unsupported chat template"), std::string::npos);
  }
  EXPECT_THROW(ChatTemplate::from_tokenizer_config("{ broken"), Error);
  EXPECT_THROW(ChatTemplate::from_tokenizer_config(R"({"chat_template": 5})"), Error);
  // Found by fuzzing (fuzz/regressions/config): a "name" that is not a string
  // threw nlohmann's type_error, which Model::load let through (it is not an
  // lm::Error). Such an entry is simply not the default one.
  for (const char* text : {R"({"chat_template": [{"name": 1}]})", R"({"chat_template": [{"name": [1, 2]}, 7]})",
                           R"({"chat_template": [{"name": "default", "template": 1}]})"}) {
    try {
      ChatTemplate::from_tokenizer_config(text);
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kFormat) << e.what();
    }
  }
}

TEST(ChatTemplate, FormatsMessagesLikeTheTemplates) {
  const std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", " Hi "}, {"assistant", "Hello."}, {"user", "Bye"}};
  const auto chatml = ChatTemplate::from_tokenizer_config(R"({"chat_template": "<|im_start|>"})");
  EXPECT_EQ(chatml->format(messages),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(chatml->end_of_turn(), "<|im_end|>");
  EXPECT_FALSE(chatml->includes_bos());
  const auto llama3 = ChatTemplate::from_tokenizer_config(R"({"chat_template": "<|start_header_id|>"})");
  EXPECT_EQ(llama3->format({{"user", " Hi "}}),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_TRUE(llama3->includes_bos());
  EXPECT_EQ(llama3->end_of_turn(), "<|eot_id|>");
  const auto zephyr = ChatTemplate::from_tokenizer_config(R"({"chat_template": "<|user|><|assistant|>"})");
  EXPECT_EQ(zephyr->format({{"system", "S"}, {"user", "U"}}), "<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n");
  EXPECT_THROW(chatml->format({}), Error);
  EXPECT_THROW(chatml->format({{"tool", "x"}}), Error);
}

}  // namespace
}  // namespace lm
