// `facet serve` driven by the official client libraries, as Open WebUI and n8n use them:
// openai and ollama (JS), and LangChain's ChatOpenAI / ChatOllama / embeddings. The model
// is the tiny random-weight model with the real tokenizer: the words are gibberish, so
// the checks are about the protocol (shapes, streams, errors) and about determinism
// (greedy answers agree across routes and clients).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
import { ChatOllama, OllamaEmbeddings } from '@langchain/ollama';
import { startServer } from './server_harness.mjs';

const KEY = 'e2e-secret';
let server, openai, ollama;

before(async () => {
  server = await startServer(['--api-key', KEY, '--max-body', '65536', '--parallel', '4']);
  openai = new OpenAI({ apiKey: KEY, baseURL: server.url + '/v1', maxRetries: 0 });
  ollama = new Ollama({ host: server.url, headers: { Authorization: `Bearer ${KEY}` } });
});
after(async () => { await server?.stop(); });

const messages = [{ role: 'user', content: 'Why is the sky blue?' }];
const colorSchema = {
  type: 'object',
  properties: { color: { enum: ['red', 'green', 'blue'] }, ok: { type: 'boolean' } },
  required: ['color', 'ok'],
};

function checkColor(text) {
  const v = JSON.parse(text);
  assert.ok(['red', 'green', 'blue'].includes(v.color), text);
  assert.equal(typeof v.ok, 'boolean', text);
  assert.deepEqual(Object.keys(v).sort(), ['color', 'ok']);
}

test('lists models (openai, ollama)', async () => {
  const list = await openai.models.list();
  assert.deepEqual(list.data.map((m) => m.id), ['tiny:latest']);
  const tags = await ollama.list();
  assert.equal(tags.models[0].name, 'tiny:latest');
  const show = await ollama.show({ model: 'tiny' });
  assert.ok(show.capabilities.includes('completion'));
});

test('greedy chat agrees across openai, ollama and both LangChain clients', async () => {
  const a = await openai.chat.completions.create({
    model: 'tiny', messages, max_tokens: 12, temperature: 0, reasoning_effort: 'none',
  });
  const text = a.choices[0].message.content;
  assert.equal(typeof text, 'string');
  assert.ok(a.usage.completion_tokens > 0);
  const b = await ollama.chat({ model: 'tiny', messages, think: false, options: { temperature: 0, num_predict: 12 } });
  assert.equal(b.message.content, text);
  assert.equal(b.done, true);
  assert.ok(b.eval_count > 0 && b.prompt_eval_count > 0);
  const lcOllama = new ChatOllama({
    baseUrl: server.url, model: 'tiny', temperature: 0, numPredict: 12, think: false,
    headers: { Authorization: `Bearer ${KEY}` },
  });
  assert.equal((await lcOllama.invoke(messages)).content, text);
  const lcOpenai = new ChatOpenAI({
    model: 'tiny', temperature: 0, maxTokens: 12, apiKey: KEY,
    configuration: { baseURL: server.url + '/v1' }, modelKwargs: { reasoning_effort: 'none' },
  });
  assert.equal((await lcOpenai.invoke(messages)).content, text);
});

test('streams add up to the whole answer (SSE and NDJSON)', async () => {
  const params = { model: 'tiny', messages, max_tokens: 16, seed: 7, temperature: 0.9 };
  const whole = (await openai.chat.completions.create(params)).choices[0].message.content;
  let streamed = '';
  let usage = null;
  let finish = null;
  const stream = await openai.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    streamed += choice.delta.content ?? '';
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.equal(streamed, whole);
  assert.ok(['stop', 'length'].includes(finish));
  assert.ok(usage && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens);

  const req = { model: 'tiny', messages, think: false, options: { temperature: 0.9, seed: 7, num_predict: 16 } };
  const full = (await ollama.chat(req)).message.content;
  let parts = '';
  let last;
  for await (const part of await ollama.chat({ ...req, stream: true })) {
    parts += part.message.content;
    last = part;
  }
  assert.equal(parts, full);
  assert.equal(last.done, true);
  assert.ok(['stop', 'length'].includes(last.done_reason));
});

test('tool-call history round-trips (openai, ollama) and renders as Gemma tool turns', async () => {
  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather', description: 'Current weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  }];
  const history = [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '18 degrees' },
  ];
  const a = await openai.chat.completions.create({ model: 'tiny', messages: history, tools, max_tokens: 8, temperature: 0 });
  assert.ok(['stop', 'length', 'tool_calls'].includes(a.choices[0].finish_reason));
  for (const call of a.choices[0].message.tool_calls ?? []) JSON.parse(call.function.arguments);
  const b = await ollama.chat({
    model: 'tiny', tools, options: { temperature: 0, num_predict: 8 }, think: false,
    messages: [history[0],
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', tool_name: 'get_weather', content: '18 degrees' }],
  });
  assert.equal(b.done, true);
  const t = await fetch(server.url + '/apply-template', {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}` }, body: JSON.stringify({ messages: history, tools }),
  });
  const { prompt } = await t.json();
  assert.ok(prompt.includes('<|tool>declaration:get_weather'), prompt);
  assert.ok(prompt.includes('<|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|>'), prompt);
  assert.ok(prompt.includes('<|tool_response>response:get_weather'), prompt);
});

test('JSON schema answers parse and validate (openai, ollama, LangChain)', async () => {
  const a = await openai.chat.completions.create({
    model: 'tiny', messages, max_tokens: 300, seed: 3,
    response_format: { type: 'json_schema', json_schema: { name: 'color', schema: colorSchema } },
  });
  checkColor(a.choices[0].message.content);
  for (const think of [false, true]) {
    const b = await ollama.chat({ model: 'tiny', messages, format: colorSchema, think, options: { seed: 4, num_predict: 300 } });
    checkColor(b.message.content);
  }
  const c = await ollama.generate({ model: 'tiny', prompt: 'Reply in JSON', format: 'json', options: { seed: 5, num_predict: 300 } });
  assert.equal(typeof c.response, 'string');
  const lc = new ChatOllama({
    baseUrl: server.url, model: 'tiny', format: colorSchema, numPredict: 300, seed: 6,
    headers: { Authorization: `Bearer ${KEY}` },
  });
  checkColor((await lc.invoke(messages)).content);
});

test('thinking is split from the answer and never leaks markers', async () => {
  const b = await ollama.chat({ model: 'tiny', messages, think: true, options: { seed: 9, num_predict: 40 } });
  assert.equal(typeof b.message.content, 'string');
  for (const text of [b.message.content, b.message.thinking ?? '']) {
    assert.ok(!text.includes('<|channel>') && !text.includes('<channel|>'), text);
  }
  const a = await openai.chat.completions.create({ model: 'tiny', messages, max_tokens: 40, seed: 9, reasoning_effort: 'high' });
  const m = a.choices[0].message;
  assert.equal(m.reasoning_content ?? '', m.reasoning ?? '');
  assert.ok(!(m.content ?? '').includes('<|channel>'));
  // The thinking switch reaches the prompt.
  const t = await fetch(server.url + '/apply-template', {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}` }, body: JSON.stringify({ messages, reasoning_effort: 'high' }),
  });
  assert.ok((await t.json()).prompt.includes('<|think|>'));
});

test('logprobs (openai chat whole and streamed, ollama) and penalties (n8n\'s options)', async () => {
  const params = { model: 'tiny', messages, max_tokens: 6, temperature: 0, reasoning_effort: 'none',
    logprobs: true, top_logprobs: 2 };
  const whole = await openai.chat.completions.create(params);
  const entries = whole.choices[0].logprobs.content;
  assert.equal(entries.length, whole.usage.completion_tokens);  // max_tokens reached: no stop token
  for (const e of entries) {
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 2);
    // Greedy: the chosen token is the most likely one.
    assert.equal(e.top_logprobs[0].token, e.token);
    assert.equal(e.top_logprobs[0].logprob, e.logprob);
    assert.ok(e.top_logprobs[1].logprob <= e.logprob);
    assert.equal(Buffer.from(e.bytes).toString('utf8'), e.token);
  }
  let streamed = [];
  for await (const chunk of await openai.chat.completions.create({ ...params, stream: true }))
    streamed = streamed.concat(chunk.choices[0]?.logprobs?.content ?? []);
  assert.deepEqual(streamed, entries);
  const o = await ollama.chat({ model: 'tiny', messages, think: false, logprobs: true, top_logprobs: 2,
    options: { temperature: 0, num_predict: 6 } });
  assert.deepEqual(o.logprobs.map((e) => e.token), entries.map((e) => e.token));

  // n8n's Ollama node sends these options; each must reach the sampler (the answer changes).
  const plain = await ollama.chat({ model: 'tiny', messages, think: false, options: { temperature: 0, num_predict: 12 } });
  const penalised = await ollama.chat({ model: 'tiny', messages, think: false, options: {
    temperature: 0, num_predict: 12, repeat_penalty: 1.5, frequency_penalty: 1, presence_penalty: 1, repeat_last_n: 32 } });
  assert.notEqual(penalised.message.content, plain.message.content);
});

test('ollama copy and delete manage the models directory', async () => {
  await ollama.copy({ source: 'tiny', destination: 'tiny-backup' });
  assert.deepEqual((await ollama.list()).models.map((m) => m.name).sort(), ['tiny-backup:latest', 'tiny:latest']);
  await ollama.delete({ model: 'tiny-backup' });
  assert.deepEqual((await ollama.list()).models.map((m) => m.name), ['tiny:latest']);
  await assert.rejects(ollama.delete({ model: 'tiny-backup' }), /not found/);
});

test('embeddings (openai base64 and float, ollama, LangChain) agree', async () => {
  const e64 = await openai.embeddings.create({ model: 'tiny', input: ['hello', 'world'] });  // SDK asks for base64
  assert.equal(e64.data.length, 2);
  const v = e64.data[0].embedding;
  assert.equal(v.length, 48);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(norm - 1) < 1e-5, String(norm));
  const ef = await openai.embeddings.create({ model: 'tiny', input: 'hello', encoding_format: 'float' });
  const o = await ollama.embed({ model: 'tiny', input: ['hello'] });
  const lcO = await new OllamaEmbeddings({ baseUrl: server.url, model: 'tiny', headers: { Authorization: `Bearer ${KEY}` } }).embedQuery('hello');
  const lcA = await new OpenAIEmbeddings({ model: 'tiny', apiKey: KEY, configuration: { baseURL: server.url + '/v1' } }).embedQuery('hello');
  for (const other of [ef.data[0].embedding, o.embeddings[0], lcO, lcA]) {
    assert.equal(other.length, 48);
    for (let i = 0; i < 48; i++) assert.ok(Math.abs(other[i] - v[i]) < 1e-6, `${i}: ${other[i]} vs ${v[i]}`);
  }
});

test('Responses API (plain and streamed)', async () => {
  const r = await openai.responses.create({ model: 'tiny', input: 'Hi', max_output_tokens: 8, temperature: 0 });
  assert.equal(typeof r.output_text, 'string');
  let text = '';
  let completed = null;
  const stream = await openai.responses.create({ model: 'tiny', input: 'Hi', max_output_tokens: 8, temperature: 0, stream: true });
  for await (const event of stream) {
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed' || event.type === 'response.incomplete') completed = event.response;
  }
  assert.equal(text, r.output_text);
  assert.ok(completed);
});

test('errors come back in each API\'s format', async () => {
  await assert.rejects(openai.chat.completions.create({ model: 'nope', messages }), (e) => e.status === 404);
  await assert.rejects(ollama.chat({ model: 'nope', messages }), (e) => e.status_code === 404 && /not found/.test(e.error));
  const wrongKey = new OpenAI({ apiKey: 'wrong', baseURL: server.url + '/v1', maxRetries: 0 });
  await assert.rejects(wrongKey.models.list(), (e) => e.status === 401);
  const headers = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };
  const bad = await fetch(server.url + '/api/chat', { method: 'POST', headers, body: '{"model":' });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /invalid JSON/);
  const types = await fetch(server.url + '/v1/chat/completions', {
    method: 'POST', headers, body: JSON.stringify({ model: 'tiny', messages, max_tokens: 'many' }),
  });
  assert.equal(types.status, 400);
  assert.equal((await types.json()).error.type, 'invalid_request_error');
  const big = await fetch(server.url + '/v1/embeddings', {
    method: 'POST', headers, body: JSON.stringify({ model: 'tiny', input: 'x'.repeat(200000) }),
  }).catch((e) => e);
  // httplib answers 413 before reading the body; a client may see the reset instead.
  if (!(big instanceof Error)) assert.equal(big.status, 413);
  const alive = await openai.models.list();
  assert.equal(alive.data.length, 1);
});
