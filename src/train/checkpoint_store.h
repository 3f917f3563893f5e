#pragma once
// A run's checkpoints: ROOT/step-<global step, 12 digits>/ holding the files the caller writes plus
// manifest.json (every file's size and FNV-1a 64 hash, and the caller's info object).
//
// save(): files are written into ROOT/.tmp-step-N-<pid>/, the manifest last; publish_folder
// (common/atomic_file.h) fsyncs every file and the folder, renames it to its final name and fsyncs
// ROOT; only then are checkpoints beyond the newest `keep` removed. A crash at any point leaves
// either the previous set of checkpoints or the new one, never a half-written checkpoint under a
// final name; leftover .tmp-* folders are ignored by readers and removed by the next save().
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace nsl {

struct CheckpointEntry {
  std::filesystem::path dir;
  int64_t global_step = 0;
  nlohmann::json info;  // the info object given to save()
};

class CheckpointStore {
 public:
  // keep >= 1: how many of the newest checkpoints survive a save().
  CheckpointStore(std::filesystem::path root, int keep);

  const std::filesystem::path& root() const { return root_; }

  // write_files(tmp_dir) writes the checkpoint's files (flat: no sub-folders); returns the final
  // folder. Throws Error(kExitRuntime) naming the file on any I/O failure (disk full, say); the
  // existing checkpoints are untouched then.
  std::filesystem::path save(int64_t global_step,
                             const std::function<void(const std::filesystem::path&)>& write_files,
                             const nlohmann::json& info);

  // Every checkpoint folder under ROOT by final name, oldest first (not verified).
  std::vector<std::filesystem::path> list() const;

  // The newest checkpoint whose manifest parses and whose files all have the recorded size and
  // hash; newer ones that fail are skipped, each with one line in `skipped` saying which file and
  // why. nullopt when there is none.
  std::optional<CheckpointEntry> latest_valid(std::vector<std::string>* skipped = nullptr) const;

  // Checks one checkpoint folder against its manifest; throws DataError naming the folder, the
  // file and what is wrong (missing, size, hash, manifest unreadable).
  static CheckpointEntry verify(const std::filesystem::path& dir);

 private:
  std::filesystem::path root_;
  int keep_;
};

}  // namespace nsl
