#!/usr/bin/env node
// Builds the chat-stage training set of the bundled default model from two sources:
//   - the hand-written conversations of models/default/chat-sft.jsonl (repeated, so the
//     model learns who it is and the short answers), and
//   - rows derived from the training split of the Brown Corpus: "continue this text"
//     (the answer is the text's real next sentences), "repeat after me", two-turn
//     continuations, and plain {"text"} passages.
// Why the derived rows: 69 conversations alone, trained long enough to learn the turn
// format, are learned by heart and cost the language modelling (held-out perplexity went
// from 241 to 954). Answers that are real corpus prose teach the format while the model
// keeps predicting English, and the {"text"} rows keep plain completion as it was.
// Only the training split is read, so the held-out files stay unseen.
//
//   node scripts/make-chat-mix.mjs BROWN_TRAIN.txt CHAT_SFT.jsonl OUT.jsonl [--seed N]
//
// Deterministic: the same inputs and seed give the same bytes on every machine.
import fs from 'node:fs';

const args = process.argv.slice(2);
function option(name, fallback) {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args.splice(at, 2)[1]);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`error: ${name} needs a whole number >= 0`);
    process.exit(2);
  }
  return value;
}
const seed = option('--seed', 1);
const HAND_REPEATS = option('--hand-repeats', 10);     // each hand-written conversation this many times
const CONTINUATIONS = option('--continuations', 2);    // "continue this text" rows per document
const PASSAGES = option('--passages', 2);              // plain {"text"} passages per document
if (args.length !== 3) {
  console.error('usage: node scripts/make-chat-mix.mjs BROWN_TRAIN.txt CHAT_SFT.jsonl OUT.jsonl ' +
                '[--seed N] [--hand-repeats N] [--continuations N] [--passages N]');
  process.exit(2);
}
const [trainPath, chatPath, outPath] = args;

// mulberry32: a small seeded generator, so the output does not depend on Node's Math.random.
let state = seed >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const between = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));

// One document per line; sentences end in . ? or ! (optionally a closing quote) and the
// next one starts with a capital letter or an opening quote.
function sentencesOf(doc) {
  return doc.split(/(?<=[.?!]"?)\s+(?=["A-Z])/).map((s) => s.trim()).filter((s) => s.length > 0);
}
const words = (s) => s.split(/\s+/).length;

const documents = fs.readFileSync(trainPath, 'utf8').split('\n').filter((l) => l.trim().length > 0);
const handRows = fs.readFileSync(chatPath, 'utf8').split('\n').filter((l) => l.trim().length > 0);
if (documents.length < 10 || handRows.length === 0) {
  console.error(`error: expected the Brown training split and the chat rows, got ${documents.length} documents and ${handRows.length} rows`);
  process.exit(1);
}

const continuePrompts = [
  'Continue this text:\n\n', 'Continue the following passage.\n\n', 'What comes next?\n\n',
  'Please continue:\n\n', 'Go on from here:\n\n', 'Write the next sentence.\n\n',
];
const repeatPrompts = ['Repeat after me: ', 'Say this back to me: ', 'Repeat this sentence: '];
const goOnPrompts = ['Go on.', 'Continue.', 'And then?', 'What happens next?'];

const user = (content) => ({ role: 'user', content });
const assistant = (content) => ({ role: 'assistant', content });
const rows = [];
for (let r = 0; r < HAND_REPEATS; ++r) for (const line of handRows) rows.push(JSON.parse(line));

// A run of `count` sentences starting at `from`, or null when it is too long for a
// 256-token window (about 1.3 tokens per word with the 8192-token vocabulary).
function run(sentences, from, count, maxWords) {
  if (from < 0 || from + count > sentences.length) return null;
  const text = sentences.slice(from, from + count).join(' ');
  return words(text) <= maxWords ? text : null;
}

for (const doc of documents) {
  const sentences = sentencesOf(doc);
  if (sentences.length < 12) continue;
  // "Continue" rows: 1-3 sentences of context, the next 1-2 as the answer.
  for (let k = 0; k < CONTINUATIONS; ++k) {
    const at = between(0, sentences.length - 6);
    const context = run(sentences, at, between(1, 3), 90);
    if (!context) continue;
    const contextCount = sentencesOf(context).length;
    const answer = run(sentences, at + contextCount, between(1, 2), 60);
    if (answer) rows.push({ messages: [user(pick(continuePrompts) + context), assistant(answer)] });
  }
  // One "repeat after me" row: a short sentence copied.
  const short = sentences.filter((s) => words(s) >= 4 && words(s) <= 25);
  if (short.length > 0) {
    const s = pick(short);
    rows.push({ messages: [user(pick(repeatPrompts) + s), assistant(s)] });
  }
  // A two-turn continuation every third document (the multi-turn format).
  if (random() < 1 / 3) {
    const at = between(0, sentences.length - 6);
    const a = run(sentences, at, 2, 70), b = run(sentences, at + 2, 1, 50), c = run(sentences, at + 3, 1, 50);
    if (a && b && c) {
      rows.push({ messages: [user(pick(continuePrompts) + a), assistant(b), user(pick(goOnPrompts)), assistant(c)] });
    }
  }
  // Plain passages of about 150 words (trained as a whole, like pretraining).
  for (let k = 0; k < PASSAGES; ++k) {
    const at = between(0, sentences.length - 10);
    let passage = '';
    for (let i = at; i < sentences.length && words(passage) < 150; ++i) passage += (passage ? ' ' : '') + sentences[i];
    if (words(passage) <= 190) rows.push({ text: passage });
  }
}

// Seeded Fisher-Yates shuffle so the hand-written rows are spread through the file (the
// trainer shuffles each epoch too; this keeps the file itself easy to inspect).
for (let i = rows.length - 1; i > 0; --i) {
  const j = Math.floor(random() * (i + 1));
  [rows[i], rows[j]] = [rows[j], rows[i]];
}
fs.writeFileSync(outPath + '.tmp', rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
fs.renameSync(outPath + '.tmp', outPath);
const kinds = { hand: handRows.length * HAND_REPEATS, text: rows.filter((r) => r.text).length };
console.error(`wrote ${outPath}: ${rows.length} rows (${kinds.hand} hand-written = ${handRows.length} x ${HAND_REPEATS}, ` +
              `${kinds.text} plain passages, ${rows.length - kinds.hand - kinds.text} derived conversations)`);
