// nsl_dist export: a checkpoint's network and class centers out of nsl_dist, for PyTorch, ONNX and
// anything else that reads .safetensors (README "Use the model from Python"). The folder holds
// model.safetensors (export_names.h), centers.safetensors (the loss's tensors) and model.json (what
// rebuilds the network and its input), and appears whole or not at all (common/atomic_file.h).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "config/choices.h"
#include "data/checksum.h"
#include "data/manifest.h"
#include "launch/checkpoint_model.h"
#include "launch/commands.h"
#include "model/export_names.h"
#include "model/safetensors.h"
#include "train/checkpoint.h"

namespace nsl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kExportFormat = "nsl_dist export 1";

struct InputShape {
  int64_t height = 0, width = 0;
  std::string source;  // where the size came from, for the summary line
};

InputShape input_shape(const ExportArgs& args, const CheckpointModel& m) {
  if (args.image_size > 0) return {args.image_size, args.image_size, "--image-size"};
  const std::string data = args.data.empty() ? m.config.data.path : args.data;
  if (data.empty() || !fs::exists(fs::path(data) / "manifest.json"))
    throw DataError("the input size of checkpoint '" + m.dir.string() +
                    "' comes from its dataset, but '" + data + "'" +
                    (args.data.empty() ? " (data.path of its config)" : "") +
                    " holds no manifest.json: pass --data DIR (the dataset folder) or "
                    "--image-size N (the stored image size)");
  const Manifest manifest = read_manifest(data);
  if (manifest.channels != m.in_channels)
    throw DataError("dataset '" + data + "' holds " + std::to_string(manifest.channels) +
                    "-channel images but checkpoint '" + m.dir.string() + "' was trained on " +
                    std::to_string(m.in_channels) + "-channel images: pass the training dataset");
  return {manifest.height, manifest.width, "dataset " + data};
}

// An existing --out is replaced only when it is an export itself.
void check_target(const fs::path& out) {
  if (!fs::exists(out)) return;
  if (!fs::is_directory(out) || (!fs::is_empty(out) && !fs::exists(out / "model.json")))
    throw ConfigError("--out '" + out.string() +
                      "' exists and is not an nsl_dist export (no model.json): choose a new "
                      "folder or remove it");
}

json architecture(const ModelConfig& mc, const torch::Tensor& head) {
  json a = {{"backbone", choice_name(mc.backbone)},
            {"embedding_dim", mc.embedding_dim},
            {"features", head.size(1)},
            {"center_embeddings", mc.center_embeddings}};
  if (mc.backbone == Backbone::kSmallCnn) {
    a["channels"] = mc.channels;
    a["norm_groups"] = mc.norm_groups;
    a["pooling"] = "avg";
    a["norm_eps"] = 1e-5;  // GroupNorm and LayerNorm, LibTorch's defaults
  } else {
    a["pooling"] = choice_name(mc.pooling);
    a["batch_norm_eps"] = 1e-5;
  }
  return a;
}

json describe(const CheckpointModel& m, const InputShape& shape,
              const std::map<std::string, torch::Tensor>& net,
              const std::map<std::string, torch::Tensor>& loss) {
  const ModelConfig& mc = m.config.model;
  const double log_scale = net.at("ns.log_scale").item<double>();
  json centers = json::object();
  for (const auto& [name, t] : loss) centers[name] = t.sizes().vec();
  return {
      {"format", kExportFormat},
      {"architecture", architecture(mc, net.at("head.weight"))},
      {"ns_layer",
       {{"scale", std::exp(std::min(std::max(log_scale, 0.0), std::log(128.0)))},
        {"learn_scale", mc.learn_scale},
        {"rule", "scale = exp(clamp(ns.log_scale, 0, log 128)); output = scale * unit"}}},
      {"output",
       "unit = x' / max(||x'||, 1e-12) with x' = head.weight @ pool(backbone(image)) "
       "(- centering_mean with center_embeddings): the retrieval embedding nsl_dist embed writes"},
      {"input",
       {{"height", shape.height},
        {"width", shape.width},
        {"channels", m.in_channels},
        {"color", m.in_channels == 1 ? "gray" : "RGB"},
        {"layout", "NCHW float32"},
        {"pixel_mean", 0.5},
        {"pixel_std", 0.5},
        {"normalisation", "(pixel / 255 - pixel_mean) / pixel_std"}}},
      {"preprocessing",
       {{"stored",
         "nsl_dist prep: decode, optional bounding-box crop, OpenCV INTER_AREA resize "
         "to height x width (aspect not kept), gray or RGB, uint8"},
        {"eval_resize_ratio", m.config.data.eval_resize_ratio},
        {"eval_resize",
         "resize the stored image's shorter side to round(height * eval_resize_ratio) "
         "(bilinear, half-pixel centres, no antialiasing), then take the central height x "
         "width (offsets rounded half to even); ratio 1: the stored image as is"}}},
      {"num_classes", m.info.value("num_classes", int64_t{0})},
      {"centers", centers},
      {"loss", m.config.loss.name},
      {"config_hash", m.info.value("config_hash", std::string())},
      {"weights_fnv1a64", m.info.value("weights_fnv1a64", std::string())},
      {"checkpoint",
       {{"path", fs::absolute(m.dir).lexically_normal().string()},
        {"epoch", m.info.value("epoch", int64_t{0})},
        {"step", m.info.value("step", int64_t{0})},
        {"global_step", m.info.value("global_step", int64_t{0})}}},
      {"config", m.info.value("config", std::string())}};
}

}  // namespace

void add_export_command(CLI::App& app, ExportArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "export",
      "write a checkpoint's network and centers as .safetensors plus model.json (for PyTorch, "
      "ONNX; README \"Use the model from Python\")");
  cmd->add_option("--checkpoint", args.checkpoint, kCheckpointOptionHelp)->required();
  cmd->add_option("--out", args.out, "folder to write (replaced when it is an earlier export)")
      ->required();
  cmd->add_option("--data", args.data,
                  "dataset folder for the input size (default: the checkpoint config's data.path)");
  cmd->add_option("--image-size", args.image_size,
                  "input size (stored images are square) when the dataset is not at hand");
}

int run_export(const ExportArgs& args) {
  if (args.image_size < 0)
    throw ConfigError("--image-size must be positive, got " + std::to_string(args.image_size));
  const fs::path out(args.out);
  check_target(out);
  std::vector<std::string> notes;
  const CheckpointModel m = load_checkpoint_model(args.checkpoint, {}, torch::kCPU, &notes);
  for (const std::string& note : notes) std::printf("# %s\n", note.c_str());
  const InputShape shape = input_shape(args, m);
  const auto net = exported_network_tensors(*m.net, m.config.model.backbone);
  std::map<std::string, torch::Tensor> loss;
  for (const auto& [name, t] : read_loss_tensors(m.dir))
    loss.emplace(name, t.to(torch::kFloat32).contiguous());
  json model = describe(m, shape, net, loss);
  const std::map<std::string, std::string> metadata = {
      {"format", kExportFormat}, {"config_hash", model["config_hash"].get<std::string>()}};

  if (!out.parent_path().empty()) fs::create_directories(out.parent_path());
  FolderDraft draft(out);
  write_safetensors((draft.path() / "model.safetensors").string(), net, metadata);
  write_safetensors((draft.path() / "centers.safetensors").string(), loss, metadata);
  json files = json::array();
  for (const char* name : {"model.safetensors", "centers.safetensors"}) {
    const fs::path file = draft.path() / name;
    files.push_back({{"name", name},
                     {"bytes", fs::file_size(file)},
                     {"fnv1a64", file_checksum(file.string())}});
  }
  model["files"] = files;
  {
    std::ofstream json_file(draft.path() / "model.json", std::ios::trunc);
    json_file << model.dump(2) << "\n";
    json_file.flush();
    if (!json_file)
      throw Error(kExitRuntime, "writing model.json in " + draft.path().string() +
                                    " failed: check the free space of its folder");
  }
  draft.publish();
  std::printf(
      "exported %s (epoch %lld, config hash %s) to %s: %s backbone, %zu network tensors, %zu "
      "loss tensors, input %lldx%lldx%lld (%s)\n",
      m.dir.string().c_str(), static_cast<long long>(m.info.value("epoch", int64_t{0})),
      model["config_hash"].get<std::string>().c_str(), out.string().c_str(),
      choice_name(m.config.model.backbone), net.size(), loss.size(),
      static_cast<long long>(shape.height), static_cast<long long>(shape.width),
      static_cast<long long>(m.in_channels), shape.source.c_str());
  return kExitOk;
}

}  // namespace nsl
