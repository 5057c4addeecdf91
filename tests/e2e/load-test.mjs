// Load test of `facet serve` on loopback: N concurrent streaming chats (some clients hang
// up midway), for each N in the list. Checks that every stream that was read to the end
// is complete and well-formed (NDJSON lines parse, exactly one final `done` object, its
// eval_count matches what was streamed) and that the server's resident memory returns
// near its baseline; prints aggregate generated tokens/s per concurrency level.
//   node tests/e2e/load-test.mjs [--streams 1,4,16] [--tokens 64] [--disconnect 0.25] [--parallel 16]
import { startServer } from './server_harness.mjs';
import fs from 'node:fs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const levels = arg('--streams', '1,4,16').split(',').map(Number);
const tokens = Number(arg('--tokens', '64'));
const disconnectShare = Number(arg('--disconnect', '0.25'));
const parallel = arg('--parallel', String(Math.max(...levels)));

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function oneStream(url, i, hangUp) {
  const body = {
    model: 'tiny', stream: true, think: false,
    messages: [{ role: 'user', content: `Story number ${i}, please.` }],
    options: { seed: i, num_predict: tokens, temperature: 1.0 },
  };
  const controller = new AbortController();
  const res = await fetch(url + '/api/chat', { method: 'POST', body: JSON.stringify(body), signal: controller.signal });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let pieces = 0;
  let final = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const j = JSON.parse(line);  // throws on a garbled line
      if (j.error) throw new Error(`stream error: ${j.error}`);
      if (final) throw new Error('data after the final object');
      if (j.done) final = j; else pieces++;
    }
    if (hangUp && pieces >= 3) {
      controller.abort();
      return { hungUp: true, tokens: 0 };
    }
  }
  if (buffer.length) throw new Error('stream ended mid-line');
  if (!final) throw new Error('stream ended without a final object');
  if (!(final.eval_count > 0) || !['stop', 'length'].includes(final.done_reason)) throw new Error('bad final object');
  return { hungUp: false, tokens: final.eval_count };
}

const server = await startServer(['--parallel', parallel, '--max-queue', '256']);
try {
  // Warm-up: load the model so that the baseline includes it.
  await oneStream(server.url, 0, false);
  const baseline = rssKiB(server.pid);
  console.log(`server pid ${server.pid}, baseline RSS ${(baseline / 1024).toFixed(1)} MiB, ${tokens} tokens per stream, --parallel ${parallel}`);
  for (const n of levels) {
    const start = performance.now();
    const runs = await Promise.allSettled(
      Array.from({ length: n }, (_, i) => oneStream(server.url, i + 1, n > 1 && i % Math.round(1 / disconnectShare) === 1)));
    const seconds = (performance.now() - start) / 1000;
    const failed = runs.filter((r) => r.status === 'rejected');
    const done = runs.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    const generated = done.reduce((s, r) => s + r.tokens, 0);
    console.log(`${String(n).padStart(3)} streams: ${done.filter((r) => !r.hungUp).length} complete, ` +
      `${done.filter((r) => r.hungUp).length} hung up, ${failed.length} failed; ` +
      `${generated} tokens in ${seconds.toFixed(2)} s = ${(generated / seconds).toFixed(1)} tokens/s aggregate`);
    for (const f of failed) console.log('   failure:', f.reason.message);
    if (failed.length) process.exitCode = 1;
  }
  await new Promise((r) => setTimeout(r, 1000));
  const metrics = await (await fetch(server.url + '/metrics')).text();
  const active = Number(/\nfacet_requests_processing (\d+)/.exec(metrics)[1]);
  const after = rssKiB(server.pid);
  console.log(`after: RSS ${(after / 1024).toFixed(1)} MiB (baseline ${(baseline / 1024).toFixed(1)}), sequences still active: ${active}`);
  if (active !== 0) { console.log('FAIL: sequences left running'); process.exitCode = 1; }
  if (after > baseline * 1.5 + 64 * 1024) { console.log('FAIL: memory did not come back near the baseline'); process.exitCode = 1; }
} finally {
  await server.stop();
}
