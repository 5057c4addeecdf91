// A model that really emits Gemma 4 thinking: the random 128-wide real-vocabulary model of
// models/configs/tiny-realvocab-learn.json, taught by `facet finetune` (LoRA SFT, about
// 25 s on 2 cores) to answer two questions with a thought block first:
//   <|channel>thought\n{thought}<channel|>{answer}<turn|>
// The prompts are the chat template's rendering with thinking on, so a request with
// `think: true` (or reasoning_effort / enable_thinking) reaches exactly what it learned.
// FACET_TRAIN_BIN, when set, is the facet that trains (scripts/test.sh points the
// sanitizer pass at the Release build: training under ASan takes 9 minutes).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { facetBin, repo } from './server_harness.mjs';

export const lessons = [
  { question: 'What is 2+2?', thought: 'Add two and two.', answer: 'It is 4.' },
  { question: 'Name a colour.', thought: 'Any colour will do.', answer: 'Blue.' },
];

const thinkingPrompt = (question) =>
  `<|turn>system\n<|think|>\n<turn|>\n<|turn>user\n${question}<turn|>\n<|turn>model\n`;

// Returns { dir, model, adapter, stop() }: model is a .gguf, adapter a PEFT folder.
export function trainThinkingModel() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-e2e-think-'));
  const model = path.join(dir, 'thinker.gguf');
  const data = path.join(dir, 'train.jsonl');
  const adapter = path.join(dir, 'adapter');
  const run = (args) => execFileSync(process.env.FACET_TRAIN_BIN || facetBin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // The config names the tokenizer relative to itself (../shared beside the checkout); the
  // copy names the one in the shared folder the build found (FACET_SHARED_DIR, set by ctest).
  const config = JSON.parse(fs.readFileSync(path.join(repo, 'models/configs/tiny-realvocab-learn.json'), 'utf8'));
  const shared = process.env.FACET_SHARED_DIR || path.resolve(repo, '../shared');
  config.vocab.hf_tokenizer_json = path.join(shared, 'data/tokenizer/gemma4-tokenizer.json');
  const configPath = path.join(dir, 'config.json');
  fs.writeFileSync(configPath, JSON.stringify(config));
  run(['make-test-model', '--config', configPath, '--out', model, '--threads', '2']);
  fs.writeFileSync(data, lessons.map((l) => JSON.stringify({
    prompt: thinkingPrompt(l.question),
    completion: `<|channel>thought\n${l.thought}<channel|>${l.answer}<turn|>`,
  })).join('\n') + '\n');
  run(['finetune', model, '--data', data, '-o', adapter, '--lr', '2e-2', '--max-steps', '60', '--grad-accum', '1',
    '--batch-size', '2', '--warmup-steps', '5', '--logging-steps', '20', '--seed', '42', '-t', '2']);
  return { dir, model, adapter, stop: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
