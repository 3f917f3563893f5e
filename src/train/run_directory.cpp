#include "train/run_directory.h"

#include "common/error.h"
#include "common/fnv.h"

namespace nsl {

RunDirectory::RunDirectory(std::string out_dir, const Config& config, ModelIdentity model,
                           RunShape shape, Note note)
    : out_(std::move(out_dir)),
      config_(config),
      model_(std::move(model)),
      shape_(shape),
      note_(std::move(note)) {
  if (!note_) note_ = [](const std::string&) {};
}

CheckpointStore RunDirectory::store() const {
  return CheckpointStore(out_ + "/checkpoints", static_cast<int>(config_.checkpoint.keep));
}

std::optional<ResumePoint> RunDirectory::choose_checkpoint(const std::string& resume) {
  if (resume.empty() || resume == "none") {
    if (writes() && !store().list().empty()) {
      throw ConfigError("'" + store().root().string() +
                        "' already holds checkpoints of an earlier "
                        "run: continue it with --resume auto, or start afresh with another --out "
                        "(or delete that folder)");
    }
    return std::nullopt;
  }
  std::optional<CheckpointEntry> entry;
  if (resume == "auto") {
    if (!writes()) throw ConfigError("--resume auto needs --out");
    std::vector<std::string> skipped;
    entry = store().latest_valid(&skipped);
    for (const auto& s : skipped) note_(s);
    if (!entry) {
      note_("no checkpoint under " + store().root().string() + ": starting from scratch");
      return std::nullopt;
    }
  } else {
    entry = CheckpointStore::verify(resume);
  }
  const std::string where = entry->dir.string();
  check_model_identity(entry->info, model_, where);
  const std::string hash = entry->info.value("config_hash", std::string());
  if (hash != config_hash(config_)) {
    note_("the config differs from the checkpoint's (hash " + hash + " -> " + config_hash(config_) +
          "): continuing with the new one");
  }
  const TrainingProgress progress = progress_from_info(entry->info, where);
  resumed_from_ = where;
  note_("resuming from " + where + " (epoch " + std::to_string(progress.epoch) + ", step " +
        std::to_string(progress.step) + ", written by " +
        std::to_string(entry->info.value("world_size", 0)) + " rank(s))");
  note_changed_shape(entry->info);
  return ResumePoint{*entry, progress};
}

void RunDirectory::note_changed_shape(const nlohmann::json& info) const {
  const int64_t ranks = info.value("world_size", int64_t{0});
  const int64_t threads = info.value("threads_per_rank", int64_t{0});  // 0: an older checkpoint
  const bool other_ranks = ranks != shape_.ranks;
  const bool other_threads = threads > 0 && threads != shape_.threads_per_rank;
  if (!other_ranks && !other_threads) return;
  auto shape = [](int64_t r, int64_t t) {
    return std::to_string(r) + " rank(s) x " + (t > 0 ? std::to_string(t) : "?") +
           " thread(s) per rank";
  };
  note_("the checkpoint was written by " + shape(ranks, threads) + ", this run has " +
        shape(shape_.ranks, shape_.threads_per_rank) +
        ": training continues from the same state but not bit-identically to a run that did not "
        "stop (float32 products and sums round differently when the work is split otherwise). "
        "Evaluation results do not depend on either");
}

std::vector<EpochMetrics> RunDirectory::open_metrics(int64_t first_epoch) {
  std::vector<EpochMetrics> kept;
  if (!writes()) return kept;
  std::filesystem::create_directories(out_);
  const std::filesystem::path path = out_ + "/metrics.jsonl";
  std::vector<nlohmann::json> lines;
  for (auto& j : read_metrics_file(path).epochs) {
    try {
      const EpochMetrics m = epoch_metrics_from_json(j);
      if (m.epoch >= first_epoch) continue;  // redone after the resume
      kept.push_back(m);
      lines.push_back(std::move(j));
    } catch (const std::exception&) {
      // not a whole metrics line: dropped
    }
  }
  rewrite_metrics_file(path, lines);
  metrics_ = std::make_unique<MetricsLog>(path.string(), /*append=*/true);
  return kept;
}

void RunDirectory::append_metrics(const EpochMetrics& m) {
  if (metrics_) metrics_->write(to_json(m));
}

void RunDirectory::save_checkpoint(
    const TrainingProgress& progress, const std::string& reason, uint64_t weights_hash,
    const std::function<void(const std::filesystem::path&)>& write_files) {
  if (!writes()) return;
  nlohmann::json info = checkpoint_info(progress, model_, config_, shape_.ranks, reason);
  info["threads_per_rank"] = shape_.threads_per_rank;
  info["weights_fnv1a64"] = hex64(weights_hash);
  last_checkpoint_ = store().save(progress.global_step, write_files, info).string();
}

std::string RunDirectory::last_good_checkpoint() const {
  if (!last_checkpoint_.empty()) return last_checkpoint_;
  if (!resumed_from_.empty()) return resumed_from_ + " (the one this run resumed from)";
  return "none (this run has not written one yet)";
}

}  // namespace nsl
