#!/usr/bin/env bash
# Sets up llama.cpp's own llama-bench in a scratch folder, from npm alone:
#
#   bench/peer/build-llama-bench.sh PEER_DIR        -> PEER_DIR/bin/llama-bench
#
# The npm package node-llama-cpp ships llama.cpp's prebuilt libraries (libllama, libggml and a
# libggml-cpu-<variant>.so per x86 CPU family, picked at run time) and, as a git bundle, the
# llama.cpp source of the same release. Only the llama-bench tool (two source files) is
# compiled here, against those prebuilt libraries: llama.cpp itself is not rebuilt, so its
# kernels are exactly the release's. Nothing of this goes into facet.
#
# Why not drive llama.cpp through node-llama-cpp's JS API (bench/peer/llama-bench.mjs)? That
# layer costs about 15-25 ms per evaluate call here (measured on a tiny model: 23-32 ms per
# token against llama-bench's 8 ms), which would understate llama.cpp's generation speed.
set -euo pipefail
peer_dir="${1:?usage: build-llama-bench.sh PEER_DIR}"
version="${NODE_LLAMA_CPP_VERSION:-3.22.1}"
mkdir -p "$peer_dir"
peer_dir="$(cd "$peer_dir" && pwd)"

package="$peer_dir/node_modules/node-llama-cpp/package.json"
if [ ! -f "$package" ] || [ "$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$package")" != "$version" ]; then
  echo "== installing node-llama-cpp@$version into $peer_dir" >&2
  [ -f "$peer_dir/package.json" ] || echo '{"private": true}' > "$peer_dir/package.json"
  npm install --prefix "$peer_dir" --no-audit --no-fund --loglevel=error "node-llama-cpp@$version" >&2
fi

libs="$peer_dir/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
[ -f "$libs/libggml-base.so" ] || { echo "error: no prebuilt llama.cpp libraries in $libs (x86-64 Linux only)" >&2; exit 1; }
bin="$peer_dir/bin"
if [ ! -x "$bin/llama-bench" ]; then
  src="$peer_dir/llama.cpp"
  if [ ! -d "$src/tools/llama-bench" ]; then
    rm -rf "$src"
    git clone -q "$peer_dir/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$src" 2>/dev/null
  fi
  mkdir -p "$bin"
  echo "== compiling llama-bench against the prebuilt libraries" >&2
  g++ -O2 -DNDEBUG -std=c++17 -I"$src/include" -I"$src/ggml/include" -I"$src/common" -I"$src/vendor" \
      -I"$src/tools/llama-bench" "$src/tools/llama-bench/llama-bench.cpp" "$src/tools/llama-bench/main.cpp" \
      -o "$bin/llama-bench" "$libs/libllama-common.so" "$libs"/libllama.v*.so "$libs"/libggml.v*.so \
      "$libs/libggml-base.so" -Wl,-rpath,"$libs"
  # llama.cpp looks for its CPU backends beside the executable.
  for f in "$libs"/libggml-cpu-*.so; do ln -sf "$f" "$bin/"; done
fi
echo "$bin/llama-bench"
