// llama.cpp's greedy continuation of a prompt through node-llama-cpp's JS API, to check that
// llama.cpp loads a GGUF that facet wrote and computes what facet computes
// (scripts/check-with-llama.sh). Run it from a folder where node-llama-cpp is installed.
//
//   node greedy.mjs MODEL.gguf PROMPT [-n 32]
//
// Prints one JSON object: the prompt's token ids as llama.cpp tokenizes it (with <bos>) and
// the ids of up to n greedily chosen tokens (temperature 0, no other sampling), stopping at
// an end-of-generation token.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import fs from "node:fs";
import process from "node:process";

async function main() {
  const argv = process.argv.slice(2);
  let n = 32;
  const positional = [];
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === "-n") n = Number(argv[++i]);
    else positional.push(argv[i]);
  }
  const [modelPath, prompt] = positional;
  if (!modelPath || prompt === undefined || !Number.isInteger(n) || n < 1)
    throw new Error("usage: greedy.mjs MODEL.gguf PROMPT [-n 32]");
  if (!fs.existsSync(modelPath)) throw new Error(`model file ${modelPath} not found`);
  const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
  const model = await llama.loadModel({modelPath, gpuLayers: 0});
  const context = await model.createContext({contextSize: 512, threads: 2, sequences: 1});
  const sequence = context.getSequence();
  const promptIds = [model.tokens.bos, ...model.tokenize(prompt, false)];
  const ids = [];
  for await (const id of sequence.evaluate(promptIds, {temperature: 0})) {
    if (model.isEogToken(id)) break;
    ids.push(id);
    if (ids.length >= n) break;
  }
  console.log(JSON.stringify({prompt_ids: promptIds, ids}));
  await context.dispose();
  await model.dispose();
}

main().catch((e) => {
  console.error(`error: ${e.message}`);
  process.exit(1);
});
