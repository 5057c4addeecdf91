// facet run MODEL -p "text" [--chat [--think] [--hide-thinking]] [-n 256 --temp 0.8 ...]
// facet run MODEL --tokens 2,17,9 [-n 32 --ignore-eos ...]
// With -p: the prompt is tokenized (BOS added) and the raw completion is printed as it
// streams, then a newline. With --chat, -p is one user turn rendered with the model's chat
// template and the parsed answer is printed (thinking to stderr, dimmed on a terminal).
// With --tokens: the new token ids are printed, space-separated, as they come.
// facet run MODEL -p "What is in the picture?" --image cat.png [--audio clip.wav] [--mmproj mmproj.gguf]
// Images and audio go with -p as one user turn (the chat template places them before the
// text); the towers come from --mmproj or the projector found beside the model.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "chat/render.h"
#include "cli/answer_printer.h"
#include "cli/command.h"
#include "cli/common.h"
#include "cli/generation_flags.h"
#include "cli/media_inputs.h"
#include "engine/generation.h"
#include "engine/media_prompt.h"
#include "engine/model_files.h"
#include "model/weight_packing.h"
#include "util/error.h"

namespace facet::cli {
namespace {

struct RunArgs {
  std::string model;
  std::string tokens;
  std::string prompt;
  bool chat = false;
  bool think = false;
  bool hide_thinking = false;
  bool ignore_eos = false;
  std::vector<std::string> images;
  std::vector<std::string> audio;
  std::string mmproj;
  int image_tokens = 0;
  GenerationFlags gen;
};

void print_text(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

int64_t context_for(const RunArgs& args, size_t prompt_tokens, int64_t max_tokens) {
  const int64_t needed = static_cast<int64_t>(prompt_tokens) + max_tokens;
  const int64_t ctx = args.gen.ctx_size > 0 ? args.gen.ctx_size : needed;
  require(needed <= ctx, "the prompt (", prompt_tokens, " tokens) plus -n ", max_tokens,
          " does not fit in --ctx-size ", ctx);
  return ctx;
}

// --tokens: ids in, ids out (no tokenizer needed); stops on the config's EOS.
int run_token_ids(const RunArgs& args) {
  auto model = load_model_for_inference(args.model);
  apply_lora_flags(*model, args.gen.lora, args.gen.verbose);
  std::vector<int32_t> prompt = parse_token_list(args.tokens);
  const int64_t max_tokens = args.gen.max_tokens >= 0 ? args.gen.max_tokens : 32;
  validate(args.gen.sampling);
  const int64_t context = context_for(args, prompt.size(), max_tokens);
  const DraftSetup draft = make_drafter(args.gen, *model, context);
  Generator generator(*model, nullptr, context, args.gen.threads, draft.rewind_tokens(), cache_types(args.gen));
  GenerationOptions options;
  draft.apply(options);
  options.sampling = args.gen.sampling;
  options.max_tokens = max_tokens;
  if (!args.ignore_eos) options.stop_ids = {model->config.eos_id};
  bool first = true;
  auto print_id = [&first](int32_t id) {
    std::printf(first ? "%d" : " %d", id);
    std::fflush(stdout);
    first = false;
  };
  GenerationResult result = generator.generate(prompt, options, [&](int32_t id, const std::string&) {
    if (id >= 0) print_id(id);
  });
  if (result.stop_token) print_id(*result.stop_token);
  std::printf("\n");
  if (args.gen.verbose) std::fprintf(stderr, "%s\n", describe_timings(result).c_str());
  return 0;
}

// -p: text in, text out, raw or through the chat template.
int run_text(const RunArgs& args) {
  require(!args.chat || !args.ignore_eos, "--ignore-eos cannot be combined with --chat");
  require(args.chat || (!args.think && !args.hide_thinking), "--think and --hide-thinking need --chat");
  const Tokenizer tokenizer = load_model_tokenizer(args.model);
  auto model = load_model_for_inference(args.model);
  apply_lora_flags(*model, args.gen.lora, args.gen.verbose);
  const int64_t max_tokens = args.gen.max_tokens >= 0 ? args.gen.max_tokens : 256;
  validate(args.gen.sampling);

  // Images and audio: encoded first (a tower runs once per item), placed by the chat template.
  std::vector<EncodedMedia> encoded;
  if (!args.images.empty() || !args.audio.empty()) {
    MediaInputs inputs(args.model, args.mmproj, model->config.hidden_size, args.gen.threads, args.image_tokens,
                       args.gen.verbose);
    for (const std::string& path : args.images) encoded.push_back(inputs.image(path));
    for (const std::string& path : args.audio) encoded.push_back(inputs.audio(path));
  }

  std::vector<int32_t> prompt;
  std::vector<PromptMedia> media;
  if (args.chat) {
    chat::RenderRequest request;
    request.messages.emplace_back();
    request.messages.back().role = chat::Role::User;
    if (encoded.empty()) {
      request.messages.back().content = chat::Content::of_text(args.prompt);
    } else {  // media before the text, images then audio, as clients send them
      std::vector<chat::ContentPart> parts;
      for (const EncodedMedia& m : encoded)
        parts.push_back(chat::ContentPart::of(m.kind == MediaKind::Image ? chat::PartKind::Image : chat::PartKind::Audio));
      parts.push_back(chat::ContentPart::of_text(args.prompt));
      request.messages.back().content = chat::Content::of_parts(std::move(parts));
    }
    request.enable_thinking = args.think;
    const ChatRulesChoice rules = choose_chat_rules(read_chat_template(args.model), model->config);
    if (args.gen.verbose)
      std::fprintf(stderr, "chat rules: %s (%s)\n", rules.rules == chat::ChatRules::Large ? "large" : "small",
                   rules.reason.c_str());
    // The rendered prompt starts with "<bos>" as text, so no BOS is added here.
    prompt = tokenizer.encode(chat::render_chat(request, rules.rules));
    if (!encoded.empty()) {
      MediaPrompt expanded = expand_media_placeholders(prompt, tokenizer, encoded, model->config.hidden_size);
      prompt = std::move(expanded.tokens);
      media = std::move(expanded.media);
    }
  } else {
    EncodeOptions with_bos;
    with_bos.add_bos = true;
    prompt = tokenizer.encode(args.prompt, with_bos);
  }

  const int64_t context = context_for(args, prompt.size(), max_tokens);
  const DraftSetup draft = make_drafter(args.gen, *model, context);
  Generator generator(*model, &tokenizer, context, args.gen.threads, draft.rewind_tokens(), cache_types(args.gen));
  GenerationOptions options;
  draft.apply(options);
  options.sampling = args.gen.sampling;
  options.max_tokens = max_tokens;
  if (!args.ignore_eos) options.stop_ids = default_stop_ids(tokenizer);
  GenerationResult result;
  if (args.chat) {
    AnswerPrinter printer({.content = stdout,
                           .thinking = args.hide_thinking ? nullptr : stderr,
                           .dim_thinking = use_ansi(stderr)});
    result = generator.generate(
        prompt, options, [&](int32_t, const std::string& text) { printer.feed(text); }, media);
    printer.finish(result.stop_reason != StopReason::StopToken);
    if (!printer.thinking().empty() && !args.hide_thinking) std::fprintf(stderr, "\n");
  } else {
    result = generator.generate(prompt, options, [](int32_t, const std::string& text) { print_text(text); });
  }
  std::printf("\n");
  if (args.gen.verbose) std::fprintf(stderr, "%s\n", describe_timings(result).c_str());
  return 0;
}

const CommandRegistration kRegistration("run", [](CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Generate a completion for a text prompt (or for token ids)");
  cmd->add_option("model", args->model, "A .gguf file or a Hugging Face model folder")->required();
  auto* prompt = cmd->add_option("-p,--prompt", args->prompt, "Prompt text (the model's tokenizer encodes it)");
  auto* tokens = cmd->add_option("--tokens", args->tokens, "Prompt as comma-separated token ids; prints ids");
  prompt->excludes(tokens);
  tokens->excludes(prompt);
  cmd->add_flag("--chat", args->chat, "Send -p as a user turn through the model's chat template")->needs(prompt);
  cmd->add_flag("--think", args->think, "With --chat: let the model think first (thinking goes to stderr)");
  cmd->add_flag("--hide-thinking", args->hide_thinking, "With --chat: do not print the thinking");
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Keep generating after end-of-sequence / end-of-turn tokens");
  cmd->add_option("--image", args->images, "An image (PNG, JPEG, WebP) for the prompt; repeatable; implies --chat")
      ->needs(prompt);
  cmd->add_option("--audio", args->audio, "An audio clip (WAV, FLAC, OGG, MP3; first 30 s) for the prompt; repeatable; implies --chat")
      ->needs(prompt);
  cmd->add_option("--mmproj", args->mmproj, "Vision/audio projector: llama.cpp's mmproj GGUF or an HF model folder");
  cmd->add_option("--image-tokens", args->image_tokens, "Soft tokens per image: 70, 140, 280 (default), 560 or 1120");
  add_generation_flags(*cmd, args->gen);
  return [args, prompt, tokens]() -> int {
    require(prompt->count() > 0 || tokens->count() > 0, "give a prompt with -p TEXT or --tokens IDS");
    if (!args->images.empty() || !args->audio.empty()) args->chat = true;
    return prompt->count() > 0 ? run_text(*args) : run_token_ids(*args);
  };
});

}  // namespace
}  // namespace facet::cli
