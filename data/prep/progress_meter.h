#pragma once
// Progress of a long conversion on stderr: "images done / total, images/s, ETA". On a terminal a
// bar redrawn in place (at most 10 times a second); otherwise one line about every 5 seconds.
#include <chrono>
#include <cstdint>

namespace nsl {

class ProgressMeter {
 public:
  // enabled = false: prints nothing (--quiet).
  ProgressMeter(int64_t total, bool enabled);
  // Ends a bar left open by an error, so that the error message starts on its own line.
  ~ProgressMeter();
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;
  void update(int64_t done);
  // Draws the final state (terminal) and ends the line.
  void finish();

 private:
  void draw(int64_t done, double elapsed);

  using Clock = std::chrono::steady_clock;
  int64_t total_;
  bool enabled_;
  bool terminal_;
  int64_t done_ = 0;
  bool line_open_ = false;
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

}  // namespace nsl
