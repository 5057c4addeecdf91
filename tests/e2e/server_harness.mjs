// Starts `build/facet serve` on a free loopback port with the tiny real-vocabulary model
// (random weights, real Gemma 4 tokenizer) served as "tiny", and stops it afterwards.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
export const facetBin = process.env.FACET_BIN || path.join(repo, 'build/facet');
export const modelPath = process.env.FACET_TEST_MODEL ||
  path.resolve(repo, '../shared/data/models/gemma4-tiny-realvocab-f16.gguf');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Returns { url, port, stop(), pid, stderr() }.
export async function startServer(extraArgs = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-e2e-'));
  fs.symlinkSync(modelPath, path.join(dir, 'tiny.gguf'));
  const port = await freePort();
  const args = ['serve', '--host', '127.0.0.1', '--port', String(port), '--models', dir,
    '--ctx-size', '1024', '--threads', '2', ...extraArgs];
  const child = spawn(facetBin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`facet serve exited: ${stderr}`);
    try {
      const r = await fetch(url + '/');
      if (r.ok) break;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, port, pid: child.pid,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
