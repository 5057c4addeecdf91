// facet chat MODEL [--system TEXT] [--think] [--hide-thinking] [sampling flags]
// An interactive conversation on stdin/stdout. Each turn renders the whole conversation
// with the model's chat template; the generator reuses the KV cache for the part it has
// already seen. Commands: /system TEXT, /think on|off, /image FILE, /audio FILE, /reset,
// /help, /exit. Images and audio go with the next message (placed before its text); their
// soft tokens stay in the conversation, so later turns reuse the cache past them. Ctrl-C
// stops the answer being written; at the prompt, Ctrl-C twice (or end of input) exits.
// Answers go to stdout, notices to stderr; no ANSI codes unless stdout is a terminal.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <unistd.h>

#include "chat/render.h"
#include "cli/answer_printer.h"
#include "cli/command.h"
#include "cli/generation_flags.h"
#include "cli/interactive_input.h"
#include "cli/media_inputs.h"
#include "engine/generation.h"
#include "engine/model_files.h"
#include "model/weight_packing.h"
#include "util/error.h"

namespace facet::cli {
namespace {

struct ChatArgs {
  std::string model;
  std::string system;
  std::string mmproj;
  int image_tokens = 0;
  bool think = false;
  bool hide_thinking = false;
  GenerationFlags gen;
};

constexpr const char* kHelp =
    "commands: /system TEXT (set the system prompt; /system alone clears it), /think on|off, /image FILE and "
    "/audio FILE (for the next message), /reset (forget the conversation), /exit; Ctrl-C stops an answer\n";

// The next turn's prompt differs from the cache from the start of the last answer on (the
// template drops its thought block, and the large models' empty one), so the cache must be
// able to go back over a whole answer to be reused; longer answers re-run the conversation.
constexpr int64_t kRewindTokens = 1024;

void notice(const std::string& text) {
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

chat::Message message(chat::Role role, const std::string& text) {
  chat::Message m;
  m.role = role;
  m.content = chat::Content::of_text(text);
  return m;
}

class ChatLoop {
 public:
  ChatLoop(const ChatArgs& args, const Model& model, const Tokenizer& tokenizer, chat::ChatRules rules,
           int64_t context, const DraftSetup& draft, std::atomic<bool>& interrupted)
      : args_(args), tokenizer_(tokenizer), rules_(rules), interrupted_(interrupted), draft_(draft),
        generator_(model, &tokenizer, context, args.gen.threads, std::max(kRewindTokens, draft.rewind_tokens()),
                   cache_types(args.gen)),
        system_(args.system), think_(args.think),
        media_inputs_(args.model, args.mmproj, model.config.hidden_size, args.gen.threads, args.image_tokens,
                      args.gen.verbose),
        width_(model.config.hidden_size) {}

  // Handles one input line; false when the user asked to leave.
  bool handle(const std::string& line) {
    if (line.empty()) return true;
    if (line[0] == '/') return command(line);
    answer(line);
    return true;
  }

 private:
  bool command(const std::string& line) {
    const size_t space = line.find(' ');
    const std::string name = line.substr(0, space);
    const std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
    if (name == "/exit" || name == "/quit" || name == "/bye") return false;
    if (name == "/help") {
      std::fputs(kHelp, stderr);
    } else if (name == "/reset") {
      history_.clear();
      history_media_.clear();
      pending_media_.clear();
      notice("(conversation cleared)");
    } else if ((name == "/image" || name == "/audio") && !rest.empty()) {
      try {
        pending_media_.push_back(name == "/image" ? media_inputs_.image(rest) : media_inputs_.audio(rest));
        notice("(" + rest + " goes with your next message)");
      } catch (const Error& e) {
        notice(std::string("error: ") + e.what());
      }
    } else if (name == "/system") {
      system_ = rest;
      notice(rest.empty() ? "(system prompt cleared)" : "(system prompt set)");
    } else if (name == "/think" && (rest == "on" || rest == "off")) {
      think_ = rest == "on";
      notice(think_ ? "(thinking on)" : "(thinking off)");
    } else {
      notice("unknown command " + line + "; " + kHelp);
    }
    return true;
  }

  chat::RenderRequest request() const {
    chat::RenderRequest r;
    if (!system_.empty()) r.messages.push_back(message(chat::Role::System, system_));
    r.messages.insert(r.messages.end(), history_.begin(), history_.end());
    r.enable_thinking = think_;
    return r;
  }

  void answer(const std::string& user_text) {
    const size_t turns_before = history_.size(), media_before = history_media_.size();
    try {
      generate_answer(user_text);
    } catch (const Error& e) {
      history_.resize(turns_before);  // a failed turn leaves no trace in the conversation
      history_media_.resize(media_before);
      notice(std::string("error: ") + e.what());
    }
  }

  // The user's message: pending images/audio first (as clients send them), then the text.
  chat::Message user_message(const std::string& text) {
    chat::Message m = message(chat::Role::User, text);
    if (pending_media_.empty()) return m;
    std::vector<chat::ContentPart> parts;
    for (EncodedMedia& item : pending_media_) {
      parts.push_back(chat::ContentPart::of(item.kind == MediaKind::Image ? chat::PartKind::Image : chat::PartKind::Audio));
      history_media_.push_back(std::move(item));
    }
    pending_media_.clear();
    parts.push_back(chat::ContentPart::of_text(text));
    m.content = chat::Content::of_parts(std::move(parts));
    return m;
  }

  void generate_answer(const std::string& user_text) {
    const size_t media_before = history_media_.size();
    history_.push_back(user_message(user_text));
    MediaPrompt rendered{tokenizer_.encode(chat::render_chat(request(), rules_)), {}};
    if (!history_media_.empty()) rendered = expand_media_placeholders(rendered.tokens, tokenizer_, history_media_, width_);
    const std::vector<int32_t>& prompt = rendered.tokens;
    const int64_t room = generator_.context_size() - static_cast<int64_t>(prompt.size());
    if (room < 1) {
      history_.pop_back();
      history_media_.resize(media_before);
      notice("the conversation no longer fits in the context of " + std::to_string(generator_.context_size()) +
             " tokens; /reset to start over (or use a larger --ctx-size)");
      return;
    }
    GenerationOptions options{.sampling = args_.gen.sampling,
                              .max_tokens = args_.gen.max_tokens >= 0 ? std::min(args_.gen.max_tokens, room) : room,
                              .stop_ids = default_stop_ids(tokenizer_),
                              .cancel = &interrupted_};
    draft_.apply(options);
    const bool ansi = use_ansi(stdout);
    AnswerPrinter printer({.content = stdout,
                           .thinking = args_.hide_thinking ? nullptr : stdout,
                           .dim_thinking = ansi});
    interrupted_.store(false);
    GenerationResult result = generator_.generate(
        prompt, options, [&](int32_t, const std::string& text) { printer.feed(text); }, rendered.media);
    printer.finish(result.stop_reason != StopReason::StopToken);
    std::printf("\n");
    std::fflush(stdout);
    if (result.stop_reason == StopReason::Cancelled) notice("(stopped)");
    if (result.stop_reason == StopReason::ContextFull || (result.stop_reason == StopReason::MaxTokens &&
                                                         options.max_tokens == room))
      notice("(the context is full; /reset to start over)");
    if (args_.gen.verbose) notice(describe_timings(result));
    interrupted_.store(false);
    if (result.stop_reason == StopReason::Cancelled && printer.content().empty()) {
      history_.pop_back();  // stopped before it answered: as if the question was never asked
      history_media_.resize(media_before);
      return;
    }
    // The template keeps only the answer of earlier turns (thinking is dropped from history);
    // an answer cut short by Ctrl-C stays as far as it was shown.
    history_.push_back(message(chat::Role::Assistant, printer.content()));
  }

  const ChatArgs& args_;
  const Tokenizer& tokenizer_;
  chat::ChatRules rules_;
  std::atomic<bool>& interrupted_;
  const DraftSetup& draft_;
  Generator generator_;
  std::string system_;
  bool think_;
  std::vector<chat::Message> history_;  // user and assistant turns
  MediaInputs media_inputs_;
  int64_t width_;
  std::vector<EncodedMedia> history_media_;  // every image/clip of history_, in order
  std::vector<EncodedMedia> pending_media_;  // for the next user message
};

int run_chat(const ChatArgs& args) {
  const Tokenizer tokenizer = load_model_tokenizer(args.model);
  auto model = load_model_for_inference(args.model);
  apply_lora_flags(*model, args.gen.lora, args.gen.verbose);
  validate(args.gen.sampling);
  const ChatRulesChoice rules = choose_chat_rules(read_chat_template(args.model), model->config);
  // Long enough for a real conversation, within what the model was trained for.
  int64_t context = args.gen.ctx_size > 0 ? args.gen.ctx_size : 4096;
  if (args.gen.ctx_size == 0 && model->config.max_context > 0) context = std::min<int64_t>(context, model->config.max_context);
  std::atomic<bool>& interrupted = install_interrupt_flag();
  if (args.gen.verbose)
    notice(std::string("chat rules: ") + (rules.rules == chat::ChatRules::Large ? "large" : "small") + " (" +
           rules.reason + "), context " + std::to_string(context) + " tokens");

  const DraftSetup draft = make_drafter(args.gen, *model, context);
  ChatLoop loop(args, *model, tokenizer, rules.rules, context, draft, interrupted);
  const bool interactive = ::isatty(0);
  if (interactive) std::fputs(kHelp, stderr);
  LineReader reader;
  std::string line;
  bool interrupted_at_prompt = false;
  while (true) {
    if (interactive) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    const LineReader::Status status = reader.read_line(line);
    if (status == LineReader::Status::EndOfInput) break;
    if (status == LineReader::Status::Interrupted) {
      interrupted.store(false);
      if (interrupted_at_prompt) break;
      interrupted_at_prompt = true;
      std::fputs("\n", stdout);
      notice("(Ctrl-C again or /exit to leave)");
      continue;
    }
    interrupted_at_prompt = false;
    if (!loop.handle(line)) break;
  }
  if (interactive) std::fputs("\n", stdout);
  return 0;
}

const CommandRegistration kRegistration("chat", [](CLI::App& app) {
  auto args = std::make_shared<ChatArgs>();
  CLI::App* cmd = app.add_subcommand("chat", "Talk with a model: one line per turn on stdin, answers on stdout");
  cmd->add_option("model", args->model, "A .gguf file or a Hugging Face model folder")->required();
  cmd->add_option("--system", args->system, "System prompt (change it later with /system)");
  cmd->add_flag("--think", args->think, "Start with thinking on (toggle with /think on|off)");
  cmd->add_flag("--hide-thinking", args->hide_thinking, "Do not print the model's thinking");
  cmd->add_option("--mmproj", args->mmproj, "Vision/audio projector for /image and /audio (llama.cpp's mmproj GGUF)");
  cmd->add_option("--image-tokens", args->image_tokens, "Soft tokens per image: 70, 140, 280 (default), 560 or 1120");
  add_generation_flags(*cmd, args->gen);
  return [args] { return run_chat(*args); };
});

}  // namespace
}  // namespace facet::cli
