// Training checkpoints: everything `--resume` needs to continue a run exactly — the LoRA
// weights, AdamW's moments and step count, and a JSON record of the run (step, seed and
// the settings that decide the data order and the schedule). The data order and dropout
// masks are pure functions of (seed, step), so no generator state needs saving.
//
// A checkpoint is a folder `checkpoint-N` holding `trainer_state.bin`:
//   "FACETCKP", u32 version, u32 0, u64 n, n bytes of JSON, u64 tensor count,
//   per tensor: u64 length, then length f32 each of weights, m, v; finally the FNV-1a 64
//   hash of every byte before it (little-endian). It is written into `checkpoint-N.tmp`,
//   fsynced, then renamed, so a crash (even kill -9) leaves either the old set of
//   checkpoints or the new one, never a half-written folder under the final name.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_types.h"
#include "train/lora.h"
#include "train/optimizer.h"

namespace facet::train {

constexpr const char* kCheckpointFile = "trainer_state.bin";

struct CheckpointData {
  chat::Json meta;  // at least {"step": N}
  std::vector<std::vector<float>> weights;  // LoraModel::parameters() order
  AdamW::State adam;
};

// Writes `folder` atomically (a folder of that name already there is replaced).
// `extra_files`, when given, writes more files (the adapter) into the temporary folder
// before it is renamed, so they appear together with the state or not at all.
void write_checkpoint(const std::string& folder, const CheckpointData& data,
                      const std::function<void(const std::string& tmp_folder)>& extra_files = nullptr);

// Reads and verifies a checkpoint folder (or its trainer_state.bin); throws Error naming
// the file on anything truncated, corrupt or of another version.
CheckpointData read_checkpoint(const std::string& path);

// The `checkpoint-N` folder with the largest N under `output_dir`, if any.
std::optional<std::string> latest_checkpoint(const std::string& output_dir);

// Writes `bytes` to `path` through a temporary file + fsync + rename.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace facet::train
