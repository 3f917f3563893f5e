#pragma once
// A run's folder OUT as rank 0 sees it (no collectives here): its checkpoints (OUT/checkpoints,
// train/checkpoint_store.h), its OUT/metrics.jsonl (train/metrics_file.h), the choice of the
// checkpoint a run resumes from and the check that it fits the model. An empty OUT is a run that
// writes nothing; it can still resume from an explicit checkpoint folder.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "train/checkpoint.h"
#include "train/checkpoint_store.h"
#include "train/metrics_file.h"
#include "train/metrics_log.h"

namespace nsl {

// The world a checkpoint is written or resumed in (ranks x threads per rank).
struct RunShape {
  int ranks = 1;
  int threads_per_rank = 1;
};

// A verified checkpoint to resume from and the progress its manifest records.
struct ResumePoint {
  CheckpointEntry checkpoint;
  TrainingProgress progress;
};

class RunDirectory {
 public:
  using Note = std::function<void(const std::string&)>;
  RunDirectory(std::string out_dir, const Config& config, ModelIdentity model, RunShape shape,
               Note note);

  bool writes() const { return !out_.empty(); }

  // resume "" or "none": a fresh run (OUT/checkpoints must hold no earlier run's checkpoints: a
  // later --resume auto would mix them); "auto": the newest valid checkpoint under OUT (none: a
  // fresh run); otherwise a checkpoint folder. The chosen one is verified against its manifest and
  // the model identity; notes say which it is and what differs from this run.
  std::optional<ResumePoint> choose_checkpoint(const std::string& resume);
  // Creates OUT; metrics.jsonl keeps the epochs before `first_epoch` (a resumed run redoes the
  // rest; lines cut by a crash go) and is opened for appending. Returns the kept epochs.
  std::vector<EpochMetrics> open_metrics(int64_t first_epoch);
  void append_metrics(const EpochMetrics& m);

  // Writes OUT/checkpoints/step-N with the files `write_files` puts into the folder it is given;
  // `weights_hash` is the weights' own fingerprint (equal runs give equal values).
  void save_checkpoint(const TrainingProgress& progress, const std::string& reason,
                       uint64_t weights_hash,
                       const std::function<void(const std::filesystem::path&)>& write_files);

  // The checkpoint this run resumed from and the newest it wrote (empty when none).
  const std::string& resumed_from() const { return resumed_from_; }
  const std::string& last_checkpoint() const { return last_checkpoint_; }
  // For messages: the newest checkpoint this run wrote, else the one it resumed from.
  std::string last_good_checkpoint() const;

 private:
  CheckpointStore store() const;
  void note_changed_shape(const nlohmann::json& info) const;

  std::string out_;
  Config config_;
  ModelIdentity model_;
  RunShape shape_;
  Note note_;
  std::unique_ptr<MetricsLog> metrics_;
  std::string resumed_from_, last_checkpoint_;
};

}  // namespace nsl
