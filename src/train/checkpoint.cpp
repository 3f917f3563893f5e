#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace nsl {
namespace fs = std::filesystem;
namespace {

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(kExitRuntime, "checkpoint: cannot open '" + path.string() + "' to sync");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw Error(kExitRuntime, "checkpoint: fsync of '" + path.string() + "' failed");
}

void write_module(torch::serialize::OutputArchive& archive, const std::string& prefix,
                  const torch::nn::Module& module) {
  for (const auto& item : module.named_parameters())
    archive.write(prefix + item.key(), item.value());
  for (const auto& item : module.named_buffers()) archive.write(prefix + item.key(), item.value());
}

void read_module(torch::serialize::InputArchive& archive, const std::string& prefix,
                 torch::nn::Module& module, const std::string& file) {
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, torch::Tensor& target) {
    torch::Tensor value;
    if (!archive.try_read(prefix + name, value)) {
      throw DataError("checkpoint '" + file + "' has no tensor '" + prefix + name +
                      "': it was written by a different model");
    }
    if (!value.sizes().equals(target.sizes())) {
      throw DataError("checkpoint '" + file + "': tensor '" + prefix + name + "' has shape " +
                      c10::str(value.sizes()) + " but the model expects " +
                      c10::str(target.sizes()) + " (different model shape or class count)");
    }
    target.copy_(value);
  };
  for (auto& item : module.named_parameters()) load(item.key(), item.value());
  for (auto& item : module.named_buffers()) load(item.key(), item.value());
}

}  // namespace

void save_checkpoint(const std::string& dir, const torch::nn::Module& net,
                     const torch::nn::Module& loss, const AdamW& optimizer,
                     const nlohmann::json& meta) {
  const fs::path final_dir(dir);
  const fs::path tmp = final_dir.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  torch::serialize::OutputArchive model;
  write_module(model, "net.", net);
  write_module(model, "loss.", loss);
  model.save_to((tmp / "model.pt").string());

  torch::serialize::OutputArchive opt;
  for (const auto& [name, value] : optimizer.state()) opt.write(name, value);
  opt.save_to((tmp / "optimizer.pt").string());

  {
    std::ofstream out(tmp / "meta.json");
    out << meta.dump(2) << '\n';
    if (!out)
      throw Error(kExitRuntime, "checkpoint: writing meta.json in '" + tmp.string() + "' failed");
  }
  for (const char* name : {"model.pt", "optimizer.pt", "meta.json"}) fsync_path(tmp / name);
  fsync_path(tmp);

  const fs::path old = final_dir.string() + ".old-" + std::to_string(::getpid());
  if (fs::exists(final_dir)) fs::rename(final_dir, old);
  fs::rename(tmp, final_dir);
  fsync_path(final_dir.parent_path().empty() ? fs::path(".") : final_dir.parent_path());
  fs::remove_all(old);
}

nlohmann::json load_checkpoint(const std::string& dir, torch::nn::Module& net,
                               torch::nn::Module& loss, AdamW* optimizer) {
  const fs::path root(dir);
  std::ifstream meta_in(root / "meta.json");
  if (!meta_in) throw DataError("'" + dir + "' is not a checkpoint: meta.json is missing");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(meta_in);
  } catch (const nlohmann::json::exception& e) {
    throw DataError("checkpoint '" + dir + "': meta.json is not valid JSON: " + e.what());
  }
  torch::serialize::InputArchive model;
  model.load_from((root / "model.pt").string());
  read_module(model, "net.", net, (root / "model.pt").string());
  read_module(model, "loss.", loss, (root / "model.pt").string());
  if (optimizer) {
    torch::serialize::InputArchive opt;
    opt.load_from((root / "optimizer.pt").string());
    std::vector<std::pair<std::string, torch::Tensor>> state;
    for (const auto& [name, value] : optimizer->state()) {
      torch::Tensor t;
      if (!opt.try_read(name, t))
        throw DataError("checkpoint '" + dir + "': optimizer state lacks " + name);
      state.emplace_back(name, t);
    }
    optimizer->load_state(state);
  }
  return meta;
}

}  // namespace nsl
