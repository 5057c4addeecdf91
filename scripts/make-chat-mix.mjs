#!/usr/bin/env node
// Builds the chat-stage training set of the bundled default model from two sources:
//   - the hand-written conversations of models/default/chat-sft.jsonl (repeated, so the
//     model learns who it is and the short answers), and
//   - rows derived from the training split of the Brown Corpus: "continue this text"
//     (the answer is the text's real next sentences), "repeat after me", two-turn
//     continuations, short answers (first or last word of a sentence, a sentence that uses a
//     word, "say the word"), and plain {"text"} passages;
//   - generated small talk: greetings, thanks, goodbyes, who-are-you in many phrasings.
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
const SHORT = option('--short', 1);                    // short-answer rows per kind and document
const SMALL_TALK = option('--small-talk', 400);        // generated greetings, thanks, who-are-you rows
if (args.length !== 3) {
  console.error('usage: node scripts/make-chat-mix.mjs BROWN_TRAIN.txt CHAT_SFT.jsonl OUT.jsonl ' +
                '[--seed N] [--hand-repeats N] [--continuations N] [--passages N] [--short N] [--small-talk N]');
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

// Short answers: the model must learn to end its turn after a few words, not only after the
// corpus-length answers of the "continue" rows (trained on those alone it greeted and then
// went on writing until the token limit).
const firstWordPrompts = ['What is the first word of this sentence?\n\n', 'Which word does this sentence start with?\n\n'];
const lastWordPrompts = ['What is the last word of this sentence?\n\n', 'Which word does this sentence end with?\n\n'];
const useWordPrompts = ['Write a sentence with the word "%".', 'Use the word "%" in a sentence.', 'Give me a sentence that uses "%".'];
const sayWordPrompts = ['Say the word "%".', 'Just say "%".', 'Reply with the word "%" and nothing else.'];
const greetings = ['Hello', 'Hello!', 'hello', 'Hi', 'Hi!', 'hi', 'Hi there', 'Hey', 'Hey!', 'Hello there!', 'Good morning',
  'Good morning!', 'Good afternoon.', 'Good evening', 'Greetings.', 'Hey there, how are you?', 'How are you?', 'How are you today?',
  'Hi, how are you doing?', 'Hello, nice to meet you.'];
const greetingReplies = ['Hello! How can I help you?', 'Hi! What would you like to talk about?', 'Hello. What can I do for you?',
  'Hi there. How can I help?', 'Good day! What would you like to know?', 'I am well, thank you. How can I help you?',
  'Hello! It is nice to meet you.', 'Hi. Ask me anything, and I will do my best.'];
const thanks = ['Thanks', 'Thanks!', 'Thank you.', 'Thank you very much!', 'thanks a lot', 'That was helpful, thanks.', 'Great, thank you!'];
const thanksReplies = ['You are welcome.', 'You are welcome! I was glad to help.', 'Glad I could help.', 'Any time.'];
const byes = ['Goodbye.', 'Bye!', 'bye', 'See you later.', 'Good night!', 'I have to go now. Goodbye!'];
const byeReplies = ['Goodbye! Have a good day.', 'Goodbye.', 'See you later!', 'Good night, and take care.'];
const identity = ['Who are you?', 'What are you?', 'who are you', 'Tell me about yourself.', 'What is your name?', 'Are you a robot?',
  'What kind of program are you?', 'Who made you?', 'Introduce yourself.'];
const identityReplies = ['I am a small language model that facet trained on the Brown Corpus, a collection of American English texts from 1961.',
  'I am a very small language model. facet trained me on the Brown Corpus, texts written in 1961.',
  'I am a computer program: a small language model trained by facet on the Brown Corpus.'];
const wordOf = (w) => w.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');

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
  // Short-answer rows: first and last word, "say the word", a sentence that uses a word.
  const plain = short.filter((t) => !/["()]/.test(t));
  for (let k = 0; k < SHORT && plain.length > 0; ++k) {
    const s = pick(plain), tokens = s.split(/\s+/).map(wordOf).filter((w) => w.length > 0);
    if (tokens.length < 4) continue;
    rows.push({ messages: [user(pick(firstWordPrompts) + s), assistant(`"${tokens[0]}"`)] });
    rows.push({ messages: [user(pick(lastWordPrompts) + s), assistant(`"${tokens[tokens.length - 1]}"`)] });
    const content = tokens.filter((w) => /^[a-z]{5,}$/.test(w));
    if (content.length > 0) {
      const w = pick(content);
      rows.push({ messages: [user(pick(useWordPrompts).replace('%', w)), assistant(s)] });
      rows.push({ messages: [user(pick(sayWordPrompts).replace('%', w)), assistant(w[0].toUpperCase() + w.slice(1) + '.')] });
    }
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

// Small talk: greetings, thanks, goodbyes and who-are-you, in many phrasings, some as the
// second turn of a conversation.
for (let k = 0; k < SMALL_TALK; ++k) {
  const kind = pick([[greetings, greetingReplies], [greetings, greetingReplies], [thanks, thanksReplies], [byes, byeReplies],
                     [identity, identityReplies]]);
  const turn = [user(pick(kind[0])), assistant(pick(kind[1]))];
  if (random() < 0.25) rows.push({ messages: [user(pick(greetings)), assistant(pick(greetingReplies)), ...turn] });
  else rows.push({ messages: turn });
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
