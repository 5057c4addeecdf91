// Input for interactive commands: Ctrl-C (SIGINT) becomes a flag that generation checks
// instead of killing the process, and stdin lines are read with read(2) so that a Ctrl-C
// while waiting for a line is seen at once (std::getline would retry or lose state).
#pragma once

#include <atomic>
#include <string>

namespace facet::cli {

// Installs the SIGINT handler (once); afterwards each Ctrl-C sets the returned flag.
// The caller clears it when it has acted on it.
std::atomic<bool>& install_interrupt_flag();

class LineReader {
 public:
  explicit LineReader(int fd = 0) : fd_(fd) {}

  enum class Status { Line, EndOfInput, Interrupted };
  // Reads one line (without its "\n"; a final line without one still counts).
  // Interrupted: a signal arrived while waiting; the partial line is discarded.
  Status read_line(std::string& line);

 private:
  int fd_;
  std::string buffer_;  // bytes read past the last line returned
  bool eof_ = false;
};

}  // namespace facet::cli
