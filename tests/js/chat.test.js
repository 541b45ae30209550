// chat(messages): the model's chat template turns messages into the prompt,
// and the reply ends at the template's end-of-turn token.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModel, UnsupportedModelError, InvalidOptionError } from '../../web/lib/node.js';
import { byteTokenizerJson, successorModel, writeModelDir, STORY_DIR } from './support.js';

// A byte-fallback tokenizer with the chat markers as special tokens (ids 263+).
function chatTokenizer(markers) {
  const t = byteTokenizerJson(['▁', 'a', 'b', '▁a', ...markers]);
  t.added_tokens.push(
    ...markers.map((content) => ({ id: t.model.vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
  );
  return t;
}

async function chatModel({ markers, template, endOfTurn }) {
  const tokenizer = chatTokenizer(markers);
  const a = tokenizer.model.vocab.a, b = tokenizer.model.vocab.b, end = tokenizer.model.vocab[endOfTurn];
  // The reply is "a", "b", then the end-of-turn token, forever.
  const files = successorModel({ cycle: [a, b, end], vocabSize: 259 + 4 + markers.length, tokenizer });
  files['tokenizer_config.json'] = JSON.stringify({ chat_template: template });
  return { model: await loadModel(writeModelDir(files)), end };
}

test('ChatML: messages formatted like the template, reply stops at <|im_end|>', async () => {
  const { model, end } = await chatModel({
    markers: ['<|im_start|>', '<|im_end|>'],
    template: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    endOfTurn: '<|im_end|>',
  });
  assert.equal(model.info.chatTemplate, 'chatml');
  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say ab' },
  ];
  const r = await model.chat(messages, { temperature: 0, maxTokens: 20 });
  const expected = '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nSay ab<|im_end|>\n<|im_start|>assistant\n';
  assert.deepEqual(r.promptIds, await model.tokenize(expected));
  assert.equal(r.reason, 'eos');
  assert.equal(r.ids.at(-1), end);
  assert.equal(r.text, 'ab');
  await model.dispose();
});

test('Llama 3: the template brings its own <|begin_of_text|>, the reply stops at <|eot_id|>', async () => {
  const { model, end } = await chatModel({
    markers: ['<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
    template: "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}",
    endOfTurn: '<|eot_id|>',
  });
  assert.equal(model.info.chatTemplate, 'llama3');
  const r = await model.chat([{ role: 'user', content: '  hi  ' }], { temperature: 0, maxTokens: 20 });
  const expected = '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n';
  assert.deepEqual(r.promptIds, await model.tokenize(expected, { addSpecialTokens: false }));
  assert.equal(r.ids.at(-1), end);
  await assert.rejects(model.chat([{ role: 'robot', content: 'x' }]).result, (e) => e instanceof InvalidOptionError && /role/.test(e.message));
  await assert.rejects(model.chat([]).result, (e) => e instanceof InvalidOptionError && /empty/.test(e.message));
  await model.dispose();
});

test('a model without a (recognized) chat template still generates; chat() says why it cannot', async () => {
  const story = await loadModel(STORY_DIR);
  assert.equal(story.info.chatTemplate, null);
  await assert.rejects(story.chat([{ role: 'user', content: 'hi' }]).result, (e) => e instanceof UnsupportedModelError && /no chat template/.test(e.message));
  assert.ok((await story.generate('Once upon a time', { maxTokens: 5 })).ids.length > 0);
  await story.dispose();
  const { model } = await chatModel({ markers: ['[INST]', '[/INST]'], template: '{{ "[INST] " + message + " [/INST]" }}', endOfTurn: '[/INST]' });
  assert.equal(model.info.chatTemplate, null);
  await assert.rejects(model.chat([{ role: 'user', content: 'hi' }]).result, (e) => e instanceof UnsupportedModelError && /unsupported chat template/.test(e.message));
  await model.dispose();
});
