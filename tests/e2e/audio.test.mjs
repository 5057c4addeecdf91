// Audio through `facet serve` from the official clients: the openai SDK (chat input_audio
// parts, base64 WAV) and ollama-js (a WAV among a message's `images`: Ollama's API has no
// audio field and the server tells clips from pictures by their bytes). The model is the
// tiny real-vocabulary model with a random audio-only projector made here (--mmproj),
// served under its file name; the same model in the models folder ("tiny") has none.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { facetBin, modelPath, repo, startServer } from './server_harness.mjs';

// A 16-bit mono PCM WAV (RIFF header written out): `seconds` of a sine at `hz`.
function wav(seconds, rate, hz) {
  const n = Math.round(seconds * rate);
  const b = Buffer.alloc(44 + 2 * n);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + 2 * n, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);  // PCM
  b.writeUInt16LE(1, 22);  // mono
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(2 * rate, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(12000 * Math.sin(2 * Math.PI * hz * i / rate)), 44 + 2 * i);
  return b;
}

const clip = wav(1, 16000, 440);
const model = path.basename(modelPath, '.gguf');
const question = 'What is this?';
let dir, server, openai, ollama;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-e2e-audio-'));
  const mmproj = path.join(dir, 'mmproj.gguf');
  const made = spawnSync(facetBin, ['make-test-model', '--config',
    path.join(repo, 'models/configs/tiny-realvocab-audio.json'), '--out', mmproj], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  server = await startServer(['--model', modelPath, '--mmproj', mmproj, '--max-body', '4194304', '--parallel', '2']);
  openai = new OpenAI({ apiKey: 'unused', baseURL: server.url + '/v1', maxRetries: 0 });
  ollama = new Ollama({ host: server.url });
});
after(async () => {
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a clip gets the same seeded answer from openai input_audio and ollama images', async () => {
  const a = await openai.chat.completions.create({
    model, temperature: 1, seed: 3, max_tokens: 12,
    messages: [{ role: 'user', content: [
      { type: 'input_audio', input_audio: { data: clip.toString('base64'), format: 'wav' } },
      { type: 'text', text: question }] }],
  });
  const text = a.choices[0].message.content;
  assert.ok(text.length > 0);
  // 1 s of 16 kHz audio: 25 soft tokens plus <|audio> and <audio|>.
  const plain = await openai.chat.completions.create({ model, temperature: 0, max_tokens: 1, messages: [{ role: 'user', content: question }] });
  assert.equal(a.usage.prompt_tokens, plain.usage.prompt_tokens + 27);
  const b = await ollama.chat({ model, messages: [{ role: 'user', content: question, images: [clip] }],
    options: { temperature: 1, seed: 3, num_predict: 12 } });
  assert.equal(b.message.content, text);
  const show = await ollama.show({ model });
  assert.ok(show.capabilities.includes('audio'));
  assert.ok(!show.capabilities.includes('vision'));
});

test('broken clips and models without an audio tower are clear 400s', async () => {
  await assert.rejects(openai.chat.completions.create({
    model, messages: [{ role: 'user', content: [
      { type: 'input_audio', input_audio: { data: clip.subarray(0, 30).toString('base64'), format: 'wav' } }] }],
  }), (e) => e.status === 400 && /audio 1 \(messages\[0\]\).*damaged/.test(e.message));
  await assert.rejects(openai.chat.completions.create({
    model: 'tiny', messages: [{ role: 'user', content: [
      { type: 'input_audio', input_audio: { data: clip.toString('base64'), format: 'wav' } }] }],
  }), (e) => e.status === 400 && /model tiny:latest has no audio encoder/.test(e.message));
  const after = await ollama.chat({ model, messages: [{ role: 'user', content: question, images: [clip] }],
    options: { num_predict: 2 } });
  assert.equal(after.done, true);
});
