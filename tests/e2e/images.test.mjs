// Images through `facet serve` from the official clients: the openai SDK (chat image_url
// data: URLs, Responses input_image) and ollama-js (a message's `images` as bytes, which
// it sends as base64; /api/generate's `images`). The model is the tiny real-vocabulary
// model with a random projector made here (--mmproj), served under its file name; the
// same model in the models folder ("tiny") has no projector.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { facetBin, modelPath, repo, startServer } from './server_harness.mjs';

// CRC-32 (PNG chunks), written out: node 20's zlib has no crc32.
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
// An 8-bit RGB PNG of a pattern chosen by `seed`.
function png(width, height, seed) {
  const rows = Buffer.alloc(height * (1 + 3 * width));
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) rows[y * (1 + 3 * width) + 1 + 3 * x + c] = (x * (seed + c) + y * (2 * seed + 1)) % 256;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

const picture = png(64, 64, 1);
const dataUrl = 'data:image/png;base64,' + picture.toString('base64');
const model = path.basename(modelPath, '.gguf');
const question = 'What is this?';
let dir, server, openai, ollama;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-e2e-images-'));
  const mmproj = path.join(dir, 'mmproj.gguf');
  const made = spawnSync(facetBin, ['make-test-model', '--config',
    path.join(repo, 'models/configs/tiny-realvocab-vision.json'), '--out', mmproj], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  server = await startServer(['--model', modelPath, '--mmproj', mmproj, '--image-tokens', '70',
    '--max-body', '4194304', '--parallel', '2']);
  openai = new OpenAI({ apiKey: 'unused', baseURL: server.url + '/v1', maxRetries: 0 });
  ollama = new Ollama({ host: server.url });
});
after(async () => {
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// Seeded sampling: greedily the random-weight model repeats a token whose text is empty.
const sampling = { temperature: 1, seed: 3, num_predict: 12 };

test('a picture gets the same seeded answer from openai chat, Responses and ollama chat / generate', async () => {
  const a = await openai.chat.completions.create({
    model, temperature: 1, seed: 3, max_tokens: 12,
    messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: dataUrl } }, { type: 'text', text: question }] }],
  });
  const text = a.choices[0].message.content;
  assert.ok(text.length > 0);
  // 64x64 at the 70-token budget: 64 soft tokens plus <|image> and <image|>.
  const plain = await openai.chat.completions.create({ model, temperature: 0, max_tokens: 1, messages: [{ role: 'user', content: question }] });
  assert.equal(a.usage.prompt_tokens, plain.usage.prompt_tokens + 66);
  const r = await openai.responses.create({
    model, temperature: 1, seed: 3, max_output_tokens: 12,
    input: [{ role: 'user', content: [{ type: 'input_image', image_url: dataUrl }, { type: 'input_text', text: question }] }],
  });
  assert.equal(r.output_text, text);
  const b = await ollama.chat({ model, messages: [{ role: 'user', content: question, images: [picture] }],
    options: sampling });
  assert.equal(b.message.content, text);
  const g = await ollama.generate({ model, prompt: question, images: [picture], options: sampling });
  assert.equal(g.response, text);
  const show = await ollama.show({ model });
  assert.ok(show.capabilities.includes('vision'));
});

test('remote URLs and models without a projector are clear 400s', async () => {
  await assert.rejects(openai.chat.completions.create({
    model, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }],
  }), (e) => e.status === 400 && /facet fetches nothing/.test(e.message));
  await assert.rejects(ollama.chat({ model: 'tiny', messages: [{ role: 'user', content: question, images: [picture] }] }),
    (e) => e.status_code === 400 && /no vision projector/.test(e.error));
  const after = await ollama.chat({ model, messages: [{ role: 'user', content: question, images: [picture] }],
    options: { num_predict: 2 } });
  assert.equal(after.done, true);
});
