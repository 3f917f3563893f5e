#pragma once
// The one way nsl_dist writes a file or a folder that someone may read later (checkpoints,
// datasets, embeddings, FAISS indexes, reports, eval JSON, the metrics.jsonl rewrite on resume):
// the content goes to a temporary sibling "<name>.tmp-<host>-<pid>", is fsynced, renamed over the
// final name, and the folder holding it is fsynced. A crash at any moment leaves the previous
// version whole, or nothing under the final name when there was none; never a partial file under
// the final name. Temporaries left by a crashed write of the same target on this host are removed
// by the next one (a temporary of a process that is still alive, or of another host, is left
// alone).
#include <filesystem>
#include <functional>
#include <string>

#include "common/error.h"

namespace nsl {

// "<folder>/<name>.tmp-<host>-<pid>" for this process.
std::filesystem::path temporary_sibling(const std::filesystem::path& target);

// Writes `target` through write(tmp), which must create the file at tmp. When write throws, or any
// step after it fails, the temporary is removed and `target` is untouched; I/O failures throw
// Error(code) naming the file, the cause and what to do.
void write_file_atomically(const std::filesystem::path& target,
                           const std::function<void(const std::filesystem::path& tmp)>& write,
                           ExitCode code = kExitRuntime);

void write_text_atomically(const std::filesystem::path& target, const std::string& text,
                           ExitCode code = kExitRuntime);

// Publishes a folder the caller has filled (usually at temporary_sibling(target)): every file in
// it, its sub-folders and itself are fsynced; an existing `target` is exchanged with it in one
// atomic rename (renameat2 RENAME_EXCHANGE) and then removed; where the file system cannot
// exchange, it is renamed aside first and removed once the new folder is in place (restored if
// that rename fails). The parent is fsynced.
void publish_folder(const std::filesystem::path& filled, const std::filesystem::path& target,
                    ExitCode code = kExitRuntime);

// A folder being written for `target`: created empty at temporary_sibling(target) (after removing
// stale temporaries), published by publish(), removed by the destructor if never published.
class FolderDraft {
 public:
  explicit FolderDraft(std::filesystem::path target, ExitCode code = kExitRuntime);
  ~FolderDraft();
  FolderDraft(const FolderDraft&) = delete;
  FolderDraft& operator=(const FolderDraft&) = delete;
  const std::filesystem::path& path() const { return draft_; }
  const std::filesystem::path& target() const { return target_; }
  void publish();

 private:
  std::filesystem::path target_;
  std::filesystem::path draft_;
  ExitCode code_;
  bool published_ = false;
};

// fsync of a file or a folder; throws Error(code) naming it.
void fsync_path(const std::filesystem::path& path, ExitCode code = kExitRuntime);

// Removes this host's temporaries of `target` whose process is gone (files or folders).
void remove_stale_temporaries(const std::filesystem::path& target);

}  // namespace nsl
