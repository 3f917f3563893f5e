#include "launch/checkpoint_model.h"

#include "common/error.h"
#include "train/checkpoint.h"
#include "train/checkpoint_store.h"

namespace nsl {
namespace fs = std::filesystem;

fs::path resolve_checkpoint(const std::string& path, std::vector<std::string>* notes) {
  const fs::path p(path);
  if (!fs::exists(p)) {
    throw DataError("checkpoint '" + path +
                    "' does not exist: give a checkpoint folder (OUT/checkpoints/step-N), a "
                    "run's checkpoints/ folder or the run folder itself");
  }
  if (fs::exists(p / "manifest.json")) return CheckpointStore::verify(p).dir;
  const fs::path root = fs::is_directory(p / "checkpoints") ? p / "checkpoints" : p;
  std::vector<std::string> skipped;
  const auto entry = CheckpointStore(root, 1).latest_valid(&skipped);
  if (notes) notes->insert(notes->end(), skipped.begin(), skipped.end());
  if (!entry) {
    throw DataError("no valid checkpoint under '" + root.string() + "'" +
                    (skipped.empty() ? std::string(" (none written yet)")
                                     : " (" + std::to_string(skipped.size()) + " damaged)") +
                    ": train first, or name a checkpoint folder");
  }
  return entry->dir;
}

CheckpointModel load_checkpoint_model(const std::string& path,
                                      const std::vector<std::string>& overrides,
                                      torch::Device device, std::vector<std::string>* notes) {
  CheckpointModel m;
  m.dir = resolve_checkpoint(path, notes);
  m.info = CheckpointStore::verify(m.dir).info;
  const std::string where = (m.dir / "manifest.json").string();
  if (!m.info.contains("config") || !m.info["config"].is_string() ||
      !m.info.contains("in_channels") || !m.info["in_channels"].is_number_integer()) {
    throw DataError("checkpoint '" + where +
                    "' does not record the run's config: it was not written by nsl_dist train");
  }
  m.config = parse_config(m.info["config"].get<std::string>(), overrides, where + " (config)");
  m.in_channels = m.info["in_channels"].get<int64_t>();
  // An override of model.* must not disagree with the stored weights.
  check_model_identity(
      m.info, model_identity(m.config, m.info.value("num_classes", int64_t{0}), m.in_channels),
      where);
  m.net = EmbeddingNet(m.config.model, m.in_channels);
  read_net_file(m.dir, *m.net);
  m.net->to(device);
  m.net->eval();
  return m;
}

}  // namespace nsl
