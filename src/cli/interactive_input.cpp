#include "cli/interactive_input.h"

#include <cerrno>
#include <csignal>
#include <unistd.h>

#include "util/error.h"

namespace facet::cli {
namespace {

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the flag is set from a signal handler");

void on_sigint(int) { g_interrupted.store(true); }

}  // namespace

std::atomic<bool>& install_interrupt_flag() {
  static const bool installed = [] {
    struct sigaction action = {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: a blocked read() returns EINTR
    return sigaction(SIGINT, &action, nullptr) == 0;
  }();
  require(installed, "could not install the Ctrl-C handler");
  return g_interrupted;
}

LineReader::Status LineReader::read_line(std::string& line) {
  while (true) {
    if (size_t newline = buffer_.find('\n'); newline != std::string::npos) {
      line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return Status::Line;
    }
    if (eof_) {
      if (buffer_.empty()) return Status::EndOfInput;
      line = std::move(buffer_);
      buffer_.clear();
      return Status::Line;
    }
    char chunk[4096];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
    } else if (n == 0) {
      eof_ = true;
    } else if (errno == EINTR) {
      buffer_.clear();
      return Status::Interrupted;
    } else {
      fail("could not read stdin (errno ", errno, ")");
    }
  }
}

}  // namespace facet::cli
