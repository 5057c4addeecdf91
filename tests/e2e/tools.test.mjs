// Model-written tool calls end to end: with tool_choice "required" (or a named function)
// facet constrains the tiny random-weight model's answer to one Gemma 4 tool call whose
// arguments fit the function's JSON schema, so the official clients see real
// `tool_calls` (whole and streamed), can send the tool's result back and get an answer.
// The argument checks below are the schema's rules written out by hand.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { ChatOpenAI } from '@langchain/openai';
import { startServer } from './server_harness.mjs';

const KEY = 'e2e-tools';
let server, openai, ollama;

before(async () => {
  server = await startServer(['--api-key', KEY, '--parallel', '2']);
  openai = new OpenAI({ apiKey: KEY, baseURL: server.url + '/v1', maxRetries: 0 });
  ollama = new Ollama({ host: server.url, headers: { Authorization: `Bearer ${KEY}` } });
});
after(async () => { await server?.stop(); });

const weatherParameters = {
  type: 'object',
  properties: {
    city: { type: 'string', description: 'City name', maxLength: 16 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer' },
  },
  required: ['city', 'days'],
};
const timeParameters = { type: 'object', properties: { zone: { type: 'string', maxLength: 8 } }, required: ['zone'] };
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather forecast', parameters: weatherParameters } },
  { type: 'function', function: { name: 'get_time', description: 'Time in a zone', parameters: timeParameters } },
];
// The random-weight model never ends a string by itself: maxLength is what closes them.
const messages = [{ role: 'user', content: 'What will the weather be in Paris for the next 2 days?' }];

function checkArguments(name, args) {
  assert.equal(typeof args, 'object', JSON.stringify(args));
  if (name === 'get_weather') {
    assert.equal(typeof args.city, 'string', JSON.stringify(args));
    assert.ok([...args.city].length <= 16, JSON.stringify(args));
    assert.ok(Number.isInteger(args.days), JSON.stringify(args));
    if ('unit' in args) assert.ok(['celsius', 'fahrenheit'].includes(args.unit), JSON.stringify(args));
    for (const k of Object.keys(args)) assert.ok(['city', 'unit', 'days'].includes(k), JSON.stringify(args));
  } else {
    assert.equal(name, 'get_time');
    assert.deepEqual(Object.keys(args), ['zone']);
    assert.equal(typeof args.zone, 'string');
    assert.ok([...args.zone].length <= 8, JSON.stringify(args));
  }
}

test('openai: tool_choice required gives a tool call, and the tool result gets an answer', async () => {
  const first = await openai.chat.completions.create({
    model: 'tiny', messages, tools, tool_choice: 'required', seed: 1, max_tokens: 300,
  });
  const choice = first.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.tool_calls.length, 1);
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.ok(call.id);
  checkArguments(call.function.name, JSON.parse(call.function.arguments));

  const followUp = [...messages, choice.message, { role: 'tool', tool_call_id: call.id, content: '18 degrees, sunny' }];
  const second = await openai.chat.completions.create({ model: 'tiny', messages: followUp, tools, seed: 1, max_tokens: 16 });
  assert.ok(['stop', 'length', 'tool_calls'].includes(second.choices[0].finish_reason));
  assert.ok(second.usage.prompt_tokens > first.usage.prompt_tokens);
  const answer = second.choices[0].message;
  assert.ok(typeof answer.content === 'string' || answer.tool_calls?.length > 0, JSON.stringify(answer));
});

test('openai: streamed tool call deltas assemble into the same call', async () => {
  const request = { model: 'tiny', messages, tools, tool_choice: 'required', seed: 2, max_tokens: 300 };
  const stream = await openai.chat.completions.create({ ...request, stream: true });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.finish_reason) finish = c.finish_reason;
    for (const d of c.delta.tool_calls ?? []) {
      calls[d.index] ??= { id: '', name: '', arguments: '' };
      if (d.id) calls[d.index].id = d.id;
      calls[d.index].name += d.function?.name ?? '';
      calls[d.index].arguments += d.function?.arguments ?? '';
    }
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length, 1);
  checkArguments(calls[0].name, JSON.parse(calls[0].arguments));
  const whole = await openai.chat.completions.create(request);
  assert.equal(whole.choices[0].message.tool_calls[0].function.arguments, calls[0].arguments);
  // The SDK's own stream helper assembles the same call.
  const runner = openai.chat.completions.stream(request);
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.tool_calls[0].function.arguments, calls[0].arguments);
});

test('openai: a named function is the one called', async () => {
  const r = await openai.chat.completions.create({
    model: 'tiny', messages, tools, tool_choice: { type: 'function', function: { name: 'get_time' } },
    seed: 3, max_tokens: 300,
  });
  const call = r.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_time');
  checkArguments('get_time', JSON.parse(call.function.arguments));
});

test('ollama: tool_choice (a facet extension) gives tool_calls with object arguments', async () => {
  const r = await ollama.chat({ model: 'tiny', messages, tools, tool_choice: 'required', think: false,
    options: { seed: 4, num_predict: 300 } });
  assert.equal(r.message.tool_calls.length, 1);
  const fn = r.message.tool_calls[0].function;
  checkArguments(fn.name, fn.arguments);
  const followUp = [...messages, r.message, { role: 'tool', tool_name: fn.name, content: '18 degrees' }];
  const answer = await ollama.chat({ model: 'tiny', messages: followUp, tools, think: false, options: { seed: 4, num_predict: 16 } });
  assert.equal(answer.done, true);
});

test('LangChain ChatOpenAI bindTools with tool_choice', async () => {
  const model = new ChatOpenAI({
    model: 'tiny', maxTokens: 300, apiKey: KEY, configuration: { baseURL: server.url + '/v1' },
    modelKwargs: { seed: 5 },
  });
  const bound = model.bindTools(tools, { tool_choice: 'required' });
  const msg = await bound.invoke(messages);
  assert.equal(msg.tool_calls.length, 1);
  checkArguments(msg.tool_calls[0].name, msg.tool_calls[0].args);
  const named = model.bindTools(tools, { tool_choice: 'get_time' });
  const m2 = await named.invoke(messages);
  assert.equal(m2.tool_calls[0].name, 'get_time');
  checkArguments('get_time', m2.tool_calls[0].args);
});

test('bad tool_choice is a 400', async () => {
  await assert.rejects(openai.chat.completions.create({
    model: 'tiny', messages, tools, tool_choice: { type: 'function', function: { name: 'get_wind' } },
  }), (e) => e.status === 400 && /get_wind/.test(e.message));
  await assert.rejects(openai.chat.completions.create({ model: 'tiny', messages, tool_choice: 'required' }),
    (e) => e.status === 400 && /tools/.test(e.message));
});
