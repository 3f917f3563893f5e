#pragma once
// Rank 0's single progress line: epoch, step, loss, images/s, ETA. Rewritten in place on a
// terminal; on a log file (Slurm, CI) printed at every tenth of the epoch instead.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace nsl {

std::string format_duration(double seconds);

class ProgressLine {
 public:
  ProgressLine(int64_t epoch, int64_t epochs, int64_t steps, std::FILE* out = stderr);
  // `done` steps finished, `images` processed globally so far in this epoch.
  void update(int64_t done, double loss, int64_t images);
  void finish();

 private:
  int64_t epoch_, epochs_, steps_;
  std::FILE* out_;
  bool tty_;
  int64_t last_tenth_ = -1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace nsl
