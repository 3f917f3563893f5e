#include "data/prep/progress_meter.h"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace nsl {

namespace {

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

}  // namespace

ProgressMeter::ProgressMeter(int64_t total, bool enabled)
    : total_(total),
      enabled_(enabled),
      terminal_(::isatty(::fileno(stderr)) == 1),
      start_(Clock::now()),
      last_draw_(start_) {}

ProgressMeter::~ProgressMeter() {
  if (line_open_) std::fputc('\n', stderr);
}

void ProgressMeter::update(int64_t done) {
  done_ = done;
  if (!enabled_) return;
  const auto now = Clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  if (since_draw < (terminal_ ? 0.1 : 5.0)) return;
  last_draw_ = now;
  draw(done, std::chrono::duration<double>(now - start_).count());
}

void ProgressMeter::finish() {
  if (!enabled_) return;
  draw(done_, std::chrono::duration<double>(Clock::now() - start_).count());
  if (terminal_) std::fputc('\n', stderr);
  line_open_ = false;
  std::fflush(stderr);
}

void ProgressMeter::draw(int64_t done, double elapsed) {
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
  const double fraction = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1;
  char line[160];
  std::snprintf(line, sizeof(line), "%lld/%lld images  %.0f images/s  ETA %s",
                static_cast<long long>(done), static_cast<long long>(total_), rate,
                clock_text(eta).c_str());
  if (terminal_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    const std::string bar = std::string(filled, '#') + std::string(kWidth - filled, ' ');
    std::fprintf(stderr, "\rprep [%s] %s ", bar.c_str(), line);
    line_open_ = true;
  } else {
    std::fprintf(stderr, "prep %3.0f%% %s\n", 100 * fraction, line);
  }
  std::fflush(stderr);
}

}  // namespace nsl
