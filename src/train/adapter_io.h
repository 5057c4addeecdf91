// LoRA adapters in and out (finetune spec §2, §3): the PEFT folder layout that PEFT,
// Unsloth and TRL load, and llama.cpp's adapter GGUF.
//
// Scaling. A LoraModel has one scale, config.scale() (alpha / r, or alpha / sqrt(r) with
// rsLoRA), for every module. Files whose modules have their own scale (PEFT rank_pattern /
// alpha_pattern, or a llama.cpp GGUF whose modules have different ranks, where llama.cpp
// uses alpha / rank of each module) load with the ratio to config.scale() folded into that
// module's B, so the effect is the file's exactly (to f32 rounding). Writers do the
// inverse: PEFT gets rank_pattern / alpha_pattern entries for modules of another rank, the
// GGUF gets adapter.lora.alpha = scale · r (llama.cpp's rule, which ignores rsLoRA and
// patterns) and B scaled for modules of another rank. facet also writes the PEFT config as
// adapter.lora.peft.* keys in the GGUF (llama.cpp ignores them) so a GGUF round trip gives
// back the same r, alpha and use_rslora bit for bit.
#pragma once

#include <string>
#include <vector>

#include "model/model.h"
#include "train/lora.h"

namespace facet::train {

// PEFT layout: DIR/adapter_config.json + DIR/adapter_model.safetensors (F32), tensors named
// base_model.model.model.language_model.layers.N.self_attn.q_proj.lora_A.weight [r, in] and
// ....lora_B.weight [out, r] ("base_model.model.model.layers.N..." when the base is a
// text-only HF folder). MoE expert adapters go in as PEFT target_parameters: ParamWrapper
// keys ....layers.N.experts[.base_layer].lora_A.weight [r·E, in] / lora_B.weight [out, r·E]
// (see adapter_peft.cpp for which parameter is nested). Creates DIR; files are replaced
// atomically.
void save_peft_adapter(const LoraModel& lora, const Model& model, const std::string& dir);

// llama.cpp LoRA GGUF: general.type "adapter", general.architecture "gemma4",
// adapter.type "lora", adapter.lora.alpha (f32), tensors blk.N.attn_q.weight.lora_a
// [r, in] and .lora_b [out, r] (F32, same bytes as PEFT's A and B); MoE experts as
// blk.N.ffn_gate_up_exps.weight.lora_a [E, r, in] / .lora_b [E, out, r] (needs a base with
// fused gate_up experts).
void save_gguf_adapter(const LoraModel& lora, const Model& model, const std::string& path);

// Reads a PEFT folder, an adapter_model.safetensors file (PEFT or Unsloth naming; the
// adapter_config.json beside it is required) or a llama.cpp LoRA GGUF, and checks every
// tensor against `model`. Errors (facet::Error naming the file and tensor): a tensor for a
// layer the model lacks, for an unknown or unsupported module (embedding LoRA, DoRA,
// lora_bias, modules_to_save), with a shape that does not match the base weight
// or the configured rank, A without B; an adapter that matches no tensor of the model.
// Accepted with a warning (to `warnings`, or stderr when null): vision/audio tower tensors
// (facet runs the text decoder only), k_proj/v_proj tensors of KV-shared layers (dead
// weights in adapters trained with transformers 5.5), norm tensors in a GGUF (mergekit).
LoraModel load_adapter(const std::string& path, const Model& model, std::vector<std::string>* warnings = nullptr);

}  // namespace facet::train
