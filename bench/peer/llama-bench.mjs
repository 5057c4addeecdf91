// llama.cpp's speed on one GGUF file through node-llama-cpp's JS API, the same two tests as
// llama-bench and `facet bench`. It measures what the JS layer costs: compare its figures with
// llama-bench's on the same file (README, Performance). scripts/bench-vs-llama.sh uses
// llama-bench itself (bench/peer/build-llama-bench.sh). Run it from a folder where
// node-llama-cpp is installed (NODE_PATH is not read by ES modules, so copy it there).
//
//   node llama-bench.mjs MODEL.gguf [-p 512] [-n 128] [-t 2] [-r 3]
//
//   pp<P>: one batch of P prompt tokens from an empty KV cache (tokens/s = P / time);
//   tg<N>: N single-token decode steps from an empty KV cache (tokens/s = N / time).
// Each test runs once untimed (page-in, warm-up), then -r timed repetitions. Tokens are a
// fixed pseudo-random sequence, as in llama-bench. Prints one JSON object on stdout:
// medians and every run, the CPU variant that llama.cpp loaded, and the peak RSS.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import fs from "node:fs";
import process from "node:process";

function parseArgs(argv) {
  const args = {model: null, prompt: 512, gen: 128, threads: 2, repetitions: 3};
  const numeric = {"-p": "prompt", "-n": "gen", "-t": "threads", "-r": "repetitions"};
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a in numeric) {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a whole number, got ${argv[i]}`);
      args[numeric[a]] = v;
    } else if (a.startsWith("-")) {
      throw new Error(`unknown option ${a}`);
    } else if (args.model === null) {
      args.model = a;
    } else {
      throw new Error(`unexpected argument ${a}`);
    }
  }
  if (args.model === null) throw new Error("usage: llama-bench.mjs MODEL.gguf [-p 512] [-n 128] [-t 2] [-r 3]");
  if (!fs.existsSync(args.model)) throw new Error(`model file ${args.model} not found`);
  if (args.repetitions < 1) throw new Error("-r must be at least 1");
  if (args.prompt === 0 && args.gen === 0) throw new Error("nothing to measure: -p and -n are both 0");
  return args;
}

// The same kind of sequence llama-bench feeds: fixed pseudo-random ids (a small LCG, seeded),
// below the vocabulary size.
function benchTokens(count, vocab) {
  let state = 1234;
  const ids = [];
  for (let i = 0; i < count; ++i) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    ids.push(1 + (state % (vocab - 1)));
  }
  return ids;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Peak resident memory of this process (the model's mapped pages it touched, the KV cache,
// llama.cpp's compute buffers and Node itself), from /proc, in bytes.
function peakRssBytes() {
  const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"));
  return line ? Number(line.replace(/\D+/g, "")) * 1024 : null;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const logLines = [];
  const llama = await getLlama({
    gpu: false,
    build: "never",        // prebuilt binaries only: nothing is compiled or downloaded
    logLevel: LlamaLogLevel.debug,  // the backend choice is logged at "log" level, below info
    logger: (level, message) => logLines.push(message),
  });
  const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0, useMmap: true});
  const context = await model.createContext({
    contextSize: Math.max(args.prompt, args.gen) + 16,
    batchSize: Math.max(args.prompt, 1),
    threads: args.threads,
    sequences: 1,
    flashAttention: false,
  });
  const sequence = context.getSequence();
  const vocab = model.tokens.vocabularySize ?? 262144;

  const measure = async (count, once) => {
    await once();  // warm-up, not counted
    const runs = [];
    for (let i = 0; i < args.repetitions; ++i) runs.push(count / (await once()));
    return {median: median(runs), runs};
  };
  const timed = async (fn) => {
    await sequence.clearHistory();
    const start = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - start) / 1e9;
  };

  const result = {model: args.model, threads: args.threads, repetitions: args.repetitions,
                  n_prompt: args.prompt, n_gen: args.gen};
  // As llama-bench does (and facet bench), each test computes the logits of its last token
  // only: without an output llama.cpp would skip the output projection, a quarter of the
  // weights of a Gemma 4 E2B token. generateNext also picks the greedy token (one argmax).
  const withLogits = (id) => [id, {generateNext: {token: true}}];
  if (args.prompt > 0) {
    const tokens = benchTokens(args.prompt, vocab);
    const input = [...tokens.slice(0, -1), withLogits(tokens[tokens.length - 1])];
    result.prompt = await measure(args.prompt, () => timed(() => sequence.controlledEvaluate(input)));
  }
  if (args.gen > 0) {
    const tokens = benchTokens(args.gen, vocab);
    result.gen = await measure(args.gen, () => timed(async () => {
      for (const id of tokens) await sequence.controlledEvaluate([withLogits(id)]);
    }));
  }
  result.prompt_tokens_per_s = result.prompt?.median ?? null;
  result.gen_tokens_per_s = result.gen?.median ?? null;
  result.peak_rss_bytes = peakRssBytes();
  // llama.cpp logs the CPU backend library it picked for this CPU (libggml-cpu-<variant>.so).
  const variantLine = logLines.find((l) => /libggml-cpu-[\w-]+\.so/.test(l));
  result.cpu_variant = variantLine ? variantLine.match(/libggml-cpu-([\w-]+)\.so/)[1] : "unknown";
  result.system_info = logLines.find((l) => l.includes("system_info")) ?? null;
  result.llama_cpp_release = llama.llamaCppRelease?.release ?? null;
  await context.dispose();
  await model.dispose();
  console.log(JSON.stringify(result, null, 2));
}

main().catch((err) => {
  console.error(`llama-bench.mjs: ${err.message}`);
  process.exit(1);
});
