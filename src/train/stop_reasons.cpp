#include "train/stop_reasons.h"

namespace nsl {
namespace {

const char* const kLowerLr = ". Lower train.lr and rerun with --resume auto";

}  // namespace

StoppedTogether weights_diverged(const std::vector<std::string>& bad,
                                 const TrainingProgress& progress, const std::string& before,
                                 const std::string& last_good_checkpoint) {
  std::string names;
  for (size_t i = 0; i < bad.size() && i < 3; ++i) names += (i ? ", " : "") + bad[i];
  if (bad.size() > 3) names += " and " + std::to_string(bad.size() - 3) + " more";
  // A progress of (epoch e, step 0) is the end of epoch e - 1.
  const std::string when =
      progress.step == 0 && progress.epoch > 0
          ? "end of epoch " + std::to_string(progress.epoch - 1)
          : "epoch " + std::to_string(progress.epoch) + ", step " + std::to_string(progress.step);
  return StoppedTogether(
      kExitRuntime,
      "training diverged: the weights are not finite (" + names + ") after global step " +
          std::to_string(progress.global_step) + " (" + when + "); " + before +
          " is skipped and nothing was written. Last good checkpoint: " + last_good_checkpoint +
          kLowerLr);
}

StoppedTogether loss_diverged(double loss, int64_t epoch, int64_t step, int64_t global_step,
                              int64_t first_rank, int world_size,
                              const std::string& last_good_checkpoint) {
  const std::string where =
      first_rank < world_size
          ? "first on rank " + std::to_string(first_rank) + " of " + std::to_string(world_size)
          : "in the sum over ranks (every rank's own share was finite)";
  return StoppedTogether(
      kExitRuntime, "training diverged: the loss is " + std::to_string(loss) + " at epoch " +
                        std::to_string(epoch) + " step " + std::to_string(step) + " (global step " +
                        std::to_string(global_step) + "), " + where +
                        "; no checkpoint is written from these weights. Last good checkpoint: " +
                        last_good_checkpoint + kLowerLr);
}

Preempted preempted(const std::string& when, const std::string& checkpoint) {
  return Preempted("preempted by a signal" + when +
                   (checkpoint.empty() ? std::string() : ", checkpoint " + checkpoint) +
                   "; rerun with --resume auto to continue");
}

}  // namespace nsl
