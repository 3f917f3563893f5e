#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <type_traits>

#include "common/error.h"

namespace nsl {
namespace fs = std::filesystem;
namespace {

const torch::Tensor& whole_or(const WholeTensors& whole, const std::string& name,
                              const torch::Tensor& part) {
  const auto it = whole.find(name);
  return it == whole.end() ? part : it->second;
}

void write_module(torch::serialize::OutputArchive& archive, const std::string& prefix,
                  const torch::nn::Module& module, const WholeTensors& whole = {}) {
  for (const auto& item : module.named_parameters())
    archive.write(prefix + item.key(), whole_or(whole, prefix + item.key(), item.value()));
  for (const auto& item : module.named_buffers()) archive.write(prefix + item.key(), item.value());
}

// A tensor of a sharded run, read whole: `rows` rows, the other dimensions as `part`'s.
void read_whole(const torch::Tensor& value, const torch::Tensor& part, int64_t rows,
                const std::string& name, const std::string& file, WholeTensors& whole) {
  std::vector<int64_t> expected = part.sizes().vec();
  if (!expected.empty()) expected[0] = rows;
  if (!value.sizes().equals(expected)) {
    throw DataError("checkpoint '" + file + "': tensor '" + name + "' has shape " +
                    c10::str(value.sizes()) + " but the model expects " + c10::str(expected) +
                    " (different model shape or class count)");
  }
  whole[name] = value;
}

void read_module(torch::serialize::InputArchive& archive, const std::string& prefix,
                 torch::nn::Module& module, const std::string& file, WholeTensors* whole = nullptr,
                 int64_t whole_rows = 0) {
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, torch::Tensor& target) {
    torch::Tensor value;
    if (!archive.try_read(prefix + name, value)) {
      throw DataError("checkpoint '" + file + "' has no tensor '" + prefix + name +
                      "': it was written by a different model");
    }
    if (whole != nullptr && whole->count(prefix + name) != 0) {
      read_whole(value, target, whole_rows, prefix + name, file, *whole);
      return;
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

torch::serialize::InputArchive open_archive(const fs::path& file) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(file.string());
  } catch (const c10::Error& e) {
    throw DataError("checkpoint file '" + file.string() +
                    "' cannot be read: " + e.what_without_backtrace());
  }
  return archive;
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

template <typename T>
T info_field(const nlohmann::json& info, const char* key, const std::string& where) {
  if (!info.contains(key)) {
    throw DataError("checkpoint '" + where + "': manifest info lacks '" + key +
                    "' (not a training checkpoint of this version)");
  }
  const nlohmann::json& value = info.at(key);
  // nlohmann converts a float to an integer with a plain cast: undefined out of range.
  if constexpr (std::is_integral_v<T>) {
    if (!value.is_number_integer()) {
      throw DataError("checkpoint '" + where + "': manifest info '" + key + "' is " + value.dump() +
                      ", not an integer");
    }
  }
  try {
    return value.get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError("checkpoint '" + where + "': manifest info '" + key +
                    "' is malformed: " + e.what());
  }
}

}  // namespace

ModelIdentity model_identity(const Config& config, int64_t num_classes, int64_t in_channels) {
  return {choice_name(config.model.backbone), num_classes, config.model.embedding_dim, in_channels};
}

nlohmann::json checkpoint_info(const TrainingProgress& p, const ModelIdentity& model,
                               const Config& config, int world_size, const std::string& reason) {
  nlohmann::json j;
  j["epoch"] = p.epoch;
  j["step"] = p.step;
  j["global_step"] = p.global_step;
  j["loss_sum"] = p.loss_sum;
  j["idle_batches"] = p.idle_batches;
  j["backbone"] = model.backbone;
  j["num_classes"] = model.num_classes;
  j["embedding_dim"] = model.embedding_dim;
  j["in_channels"] = model.in_channels;
  j["world_size"] = world_size;
  j["config_hash"] = config_hash(config);
  j["config"] = to_yaml(config);
  j["reason"] = reason;
  j["written_utc"] = utc_now();
  return j;
}

TrainingProgress progress_from_info(const nlohmann::json& info, const std::string& where) {
  TrainingProgress p;
  p.epoch = info_field<int64_t>(info, "epoch", where);
  p.step = info_field<int64_t>(info, "step", where);
  p.global_step = info_field<int64_t>(info, "global_step", where);
  p.loss_sum = info_field<double>(info, "loss_sum", where);
  p.idle_batches = info_field<int64_t>(info, "idle_batches", where);
  if (p.epoch < 0 || p.step < 0 || p.global_step < 0) {
    throw DataError("checkpoint '" + where + "': negative epoch or step in its manifest");
  }
  return p;
}

void check_model_identity(const nlohmann::json& info, const ModelIdentity& expected,
                          const std::string& where) {
  const std::string fix =
      ": resume with the config and dataset it was trained with, or start a new run (another "
      "--out, or --resume none)";
  const auto backbone = info_field<std::string>(info, "backbone", where);
  if (backbone != expected.backbone) {
    throw DataError("checkpoint '" + where + "' holds a " + backbone +
                    " model but the config asks for " + expected.backbone + fix);
  }
  auto check = [&](const char* key, int64_t want, const char* what) {
    const auto have = info_field<int64_t>(info, key, where);
    if (have != want) {
      throw DataError("checkpoint '" + where + "' was trained with " + std::to_string(have) + " " +
                      what + " but this run has " + std::to_string(want) + fix);
    }
  };
  check("num_classes", expected.num_classes, "training classes");
  check("embedding_dim", expected.embedding_dim, "embedding dimensions (model.embedding_dim)");
  check("in_channels", expected.in_channels, "image channels");
}

namespace {

// The archive serialised in memory, then written by us: LibTorch's file writer throws from its
// destructor after a failed write (disk full), which ends the process in std::terminate instead of
// reporting the error.
void write_archive(torch::serialize::OutputArchive& archive, const fs::path& file) {
  std::ostringstream bytes(std::ios::binary);
  archive.save_to(bytes);
  const std::string data = bytes.str();
  errno = 0;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (out) out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (out) out.close();
  if (!out) {
    const int err = errno;
    throw Error(kExitRuntime, "checkpoint: writing '" + file.string() + "' (" +
                                  std::to_string(data.size()) + " bytes) failed (" +
                                  (err != 0 ? std::strerror(err) : "unknown error") +
                                  "); check free space and write permission there "
                                  "(checkpoints saved before are unchanged)");
  }
}

}  // namespace

void write_training_files(const fs::path& dir, const torch::nn::Module& net,
                          const torch::nn::Module& loss, const AdamW& optimizer,
                          const WholeTensors& whole) {
  torch::serialize::OutputArchive model;
  write_module(model, "net.", net);
  write_module(model, "loss.", loss, whole);
  write_archive(model, dir / "model.pt");

  torch::serialize::OutputArchive opt;
  for (const auto& [name, value] : optimizer.state()) opt.write(name, whole_or(whole, name, value));
  write_archive(opt, dir / "optimizer.pt");

  torch::serialize::OutputArchive rng;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng.write("cpu", gen.get_state());
  }
  write_archive(rng, dir / "rng.pt");
}

void read_model_file(const fs::path& dir, torch::nn::Module& net, torch::nn::Module& loss) {
  const fs::path file = dir / "model.pt";
  torch::serialize::InputArchive model = open_archive(file);
  read_module(model, "net.", net, file.string());
  read_module(model, "loss.", loss, file.string());
}

std::map<std::string, torch::Tensor> read_loss_tensors(const fs::path& dir) {
  const fs::path file = dir / "model.pt";
  torch::serialize::InputArchive model = open_archive(file);
  const std::string prefix = "loss.";
  std::map<std::string, torch::Tensor> out;
  for (const std::string& key : model.keys()) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    torch::Tensor value;
    if (!model.try_read(key, value))
      throw DataError("checkpoint '" + file.string() + "': entry '" + key + "' is not a tensor");
    out.emplace(key.substr(prefix.size()), value);
  }
  return out;
}

void read_net_file(const fs::path& dir, torch::nn::Module& net) {
  const fs::path file = dir / "model.pt";
  torch::serialize::InputArchive model = open_archive(file);
  read_module(model, "net.", net, file.string());
}

void read_training_files(const fs::path& dir, torch::nn::Module& net, torch::nn::Module& loss,
                         AdamW& optimizer, WholeTensors* whole, int64_t whole_rows) {
  {
    const fs::path file = dir / "model.pt";
    torch::serialize::InputArchive model = open_archive(file);
    read_module(model, "net.", net, file.string());
    read_module(model, "loss.", loss, file.string(), whole, whole_rows);
  }
  const fs::path opt_file = dir / "optimizer.pt";
  torch::serialize::InputArchive opt = open_archive(opt_file);
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (const auto& [name, value] : optimizer.state()) {
    torch::Tensor t;
    if (!opt.try_read(name, t)) {
      // Checkpoints from before per-row step counts: load_state gives rows the global count.
      if (name.size() > 10 && name.compare(name.size() - 10, 10, ".row_steps") == 0) continue;
      throw DataError("checkpoint file '" + opt_file.string() + "' lacks optimizer state '" + name +
                      "': it was written for a different model");
    }
    if (whole != nullptr && whole->count(name) != 0) {
      read_whole(t, value, whole_rows, name, opt_file.string(), *whole);
      continue;
    }
    if (!t.sizes().equals(value.sizes())) {
      throw DataError("checkpoint file '" + opt_file.string() + "': optimizer state '" + name +
                      "' has shape " + c10::str(t.sizes()) + ", the model needs " +
                      c10::str(value.sizes()));
    }
    state.emplace_back(name, t);
  }
  optimizer.load_state(state);

  const fs::path rng_file = dir / "rng.pt";
  torch::serialize::InputArchive rng = open_archive(rng_file);
  torch::Tensor cpu_state;
  if (!rng.try_read("cpu", cpu_state)) {
    throw DataError("checkpoint file '" + rng_file.string() + "' lacks the generator state");
  }
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(cpu_state);
}

}  // namespace nsl
