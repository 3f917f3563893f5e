#include "train/progress.h"

#include <unistd.h>

namespace nsl {

std::string format_duration(double seconds) {
  if (seconds < 0) seconds = 0;
  const auto total = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (total >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", total / 3600, (total / 60) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", total / 60, total % 60);
  }
  return buf;
}

ProgressLine::ProgressLine(int64_t epoch, int64_t epochs, int64_t steps, std::FILE* out)
    : epoch_(epoch),
      epochs_(epochs),
      steps_(steps),
      out_(out),
      tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()) {}

void ProgressLine::update(int64_t done, double loss, int64_t images) {
  const int64_t tenth = steps_ > 0 ? (done * 10) / steps_ : 10;
  if (!tty_ && tenth == last_tenth_) return;
  last_tenth_ = tenth;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(images) / elapsed : 0.0;
  const double eta =
      done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(steps_ - done) : 0.0;
  std::fprintf(out_, "%sepoch %lld/%lld  step %lld/%lld  loss %.4f  %.1f img/s  ETA %s%s",
               tty_ ? "\r" : "", static_cast<long long>(epoch_), static_cast<long long>(epochs_),
               static_cast<long long>(done), static_cast<long long>(steps_), loss, rate,
               format_duration(eta).c_str(), tty_ ? "   " : "\n");
  std::fflush(out_);
}

void ProgressLine::finish() {
  if (tty_) std::fprintf(out_, "\n");
  std::fflush(out_);
}

}  // namespace nsl
