// Thinking that the model itself emits, split from the answer by `facet serve` and read by
// the official clients. The other e2e tests use random weights that never open the thought
// channel; here a small model was first taught (facet finetune, thinking_model.mjs) to
// answer with `<|channel>thought\n...<channel|>` before its answer, so every route has to
// route model-generated thought tokens into its own thinking field, whole and streamed,
// with no marker leaking into either part.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { ChatOllama } from '@langchain/ollama';
import { facetBin, startServer } from './server_harness.mjs';
import { lessons, trainThinkingModel } from './thinking_model.mjs';

let taught, server, openai, ollama;

before(async () => {
  taught = trainThinkingModel();
  server = await startServer(['--model', taught.model, '--lora', taught.adapter]);
  openai = new OpenAI({ apiKey: 'unused', baseURL: server.url + '/v1', maxRetries: 0 });
  ollama = new Ollama({ host: server.url });
}, { timeout: 300000 });
after(async () => {
  await server?.stop();
  taught?.stop();
});

const ask = (question) => [{ role: 'user', content: question }];

test('facet run --chat --think prints the thought on stderr and the answer on stdout', () => {
  for (const l of lessons) {
    const r = spawnSync(facetBin, ['run', taught.model, '--lora', taught.adapter, '--chat', '--think', '-p', l.question,
      '--temp', '0', '-n', '40', '-t', '2'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), l.answer);
    assert.equal(r.stderr.trim(), l.thought);
  }
});

test('Ollama /api/chat: message.thinking and message.content, whole and streamed', async () => {
  for (const l of lessons) {
    const req = { model: 'thinker', messages: ask(l.question), think: true, options: { temperature: 0, num_predict: 40 } };
    const whole = await ollama.chat(req);
    assert.equal(whole.message.thinking, l.thought);
    assert.equal(whole.message.content, l.answer);
    assert.equal(whole.done_reason, 'stop');
    let thinking = '', content = '', thinkingDoneBeforeAnswer = true;
    for await (const part of await ollama.chat({ ...req, stream: true })) {
      if (part.message.thinking && content) thinkingDoneBeforeAnswer = false;
      thinking += part.message.thinking ?? '';
      content += part.message.content ?? '';
    }
    assert.equal(thinking, l.thought);
    assert.equal(content, l.answer);
    assert.ok(thinkingDoneBeforeAnswer, 'thinking chunks came after answer chunks');
  }
});

test('Ollama /api/generate with think: thinking and response', async () => {
  const l = lessons[0];
  const r = await ollama.generate({ model: 'thinker', prompt: l.question, think: true, options: { temperature: 0, num_predict: 40 } });
  assert.equal(r.thinking, l.thought);
  assert.equal(r.response, l.answer);
});

test('OpenAI chat completions: reasoning_content, reasoning_tokens, streamed deltas', async () => {
  for (const l of lessons) {
    const params = { model: 'thinker', messages: ask(l.question), reasoning_effort: 'high', temperature: 0, max_tokens: 40 };
    const whole = await openai.chat.completions.create(params);
    const m = whole.choices[0].message;
    assert.equal(m.reasoning_content, l.thought);
    assert.equal(m.reasoning, l.thought);
    assert.equal(m.content, l.answer);
    // The thought block's tokens (markers included) are counted, and are fewer than all.
    const usage = whole.usage;
    assert.ok(usage.completion_tokens_details.reasoning_tokens >= 4, JSON.stringify(usage));
    assert.ok(usage.completion_tokens_details.reasoning_tokens < usage.completion_tokens, JSON.stringify(usage));
    let reasoning = '', content = '';
    const stream = await openai.chat.completions.create({ ...params, stream: true });
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta ?? {};
      reasoning += delta.reasoning_content ?? '';
      content += delta.content ?? '';
    }
    assert.equal(reasoning, l.thought);
    assert.equal(content, l.answer);
  }
  // chat_template_kwargs.enable_thinking, as llama-server and vLLM clients send it.
  const viaKwargs = await openai.chat.completions.create({
    model: 'thinker', messages: ask(lessons[1].question), temperature: 0, max_tokens: 40,
    chat_template_kwargs: { enable_thinking: true },
  });
  assert.equal(viaKwargs.choices[0].message.reasoning_content, lessons[1].thought);
  assert.equal(viaKwargs.choices[0].message.content, lessons[1].answer);
});

test('OpenAI Responses API: a reasoning item before the message, whole and streamed', async () => {
  const l = lessons[1];
  const params = { model: 'thinker', input: l.question, reasoning: { effort: 'high' }, temperature: 0, max_output_tokens: 40 };
  const r = await openai.responses.create(params);
  assert.deepEqual(r.output.map((o) => o.type), ['reasoning', 'message']);
  assert.equal(r.output[0].content[0].text, l.thought);
  assert.equal(r.output_text, l.answer);
  assert.ok(r.usage.output_tokens_details.reasoning_tokens >= 4);
  let reasoning = '', text = '';
  for await (const event of await openai.responses.create({ ...params, stream: true })) {
    if (event.type === 'response.reasoning_text.delta') reasoning += event.delta;
    if (event.type === 'response.output_text.delta') text += event.delta;
  }
  assert.equal(reasoning, l.thought);
  assert.equal(text, l.answer);
});

test('LangChain ChatOllama (as n8n uses it) puts the thinking in reasoning_content', async () => {
  const l = lessons[0];
  const chat = new ChatOllama({ baseUrl: server.url, model: 'thinker', think: true, temperature: 0, numPredict: 40 });
  const m = await chat.invoke(l.question);
  assert.equal(m.content, l.answer);
  assert.equal(m.additional_kwargs.reasoning_content, l.thought);
});
