// Smoke test: a ResNet-18 trained through `nsl_dist train` on the generated dataset at 64 px, with
// one epoch of frozen backbone, finishes with finite losses; the ResNet-50 reference recipes pass
// --dry-run.
#define BOOST_TEST_DYN_LINK
#define BOOST_TEST_MODULE cli_resnet
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "cli/cli_support.h"
#include "model/resnet.h"
#include "support/safetensors_writer.h"

using namespace nsl::test;

BOOST_AUTO_TEST_CASE(resnet18_trains_at_64px) {
  ScratchDir dir("cli_resnet");
  const std::string data = dir / "data";
  const auto synth = run_command(nsl_dist() + " synth --out " + data +
                                 " --classes 24 --images-per-class 12 --image-size 64 --shards 2");
  BOOST_TEST_REQUIRE(synth.exit_code == 0, synth.output);
  const auto r = run_command(
      nsl_dist() + " train --quiet --config " + NSL_SOURCE_DIR + "/configs/tiny.yaml --out " +
      (dir / "run") + " --set data.path=" + data +
      " --set model.backbone=resnet18 --set model.pooling=avg+max --set model.embedding_dim=64"
      " --set train.epochs=2 --set train.freeze_backbone_epochs=1 --set train.lr=0.0003");
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.output);
  std::ifstream in(dir.path() / "run" / "metrics.jsonl");
  std::string line;
  int epochs = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    BOOST_TEST(std::isfinite(j.at("loss").get<double>()));
    ++epochs;
  }
  BOOST_TEST(epochs == 3);
}

// configs/cub200_r50.yaml and configs/cars196_r50.yaml (METHOD.md section 8) pass `--dry-run` on a
// 3-channel dataset with a ResNet-50 safetensors file of the torchvision layout (random weights
// written here), and resolve to the recipe's settings.
BOOST_AUTO_TEST_CASE(reference_recipes_pass_dry_run) {
  ScratchDir dir("cli_recipes");
  // A folder-layout dataset of gray PGM images (P5, written by hand), converted to RGB shards.
  for (int c = 0; c < 4; ++c) {
    const auto cls = dir.path() / "images" / ("class" + std::to_string(c));
    std::filesystem::create_directories(cls);
    for (int i = 0; i < 2; ++i) {
      std::ofstream out(cls / ("img" + std::to_string(i) + ".pgm"), std::ios::binary);
      out << "P5\n40 40\n255\n";
      for (int p = 0; p < 40 * 40; ++p) out.put(static_cast<char>((p * (c + 3) + 17 * i) % 256));
    }
  }
  const std::string data = dir / "data";
  const auto prep =
      run_command(nsl_dist() + " prep --quiet --dataset folder --root " + (dir / "images") +
                  " --out " + data + " --image-size 32 --channels 3 --shards 1");
  BOOST_TEST_REQUIRE(prep.exit_code == 0, prep.output);
  const std::string weights = dir / "resnet50.safetensors";
  {
    nsl::ResNet net(50, 3);
    write_module(weights, *net, "", {{"fc.weight", torch::zeros({1000, 2048})}});
  }
  for (const std::string name : {"cub200_r50", "cars196_r50"}) {
    const auto r = run_command(nsl_dist() + " train --config " + NSL_SOURCE_DIR + "/configs/" +
                               name + ".yaml --dry-run --set data.path=" + data +
                               " --set model.pretrained=" + weights);
    BOOST_TEST_REQUIRE(r.exit_code == 0, name << ": " << r.output);
    for (const std::string& want : std::vector<std::string>{
             "backbone: resnet50", "embedding_dim: 512", "scale: 32", "freeze_bn: true",
             "pretrained: " + weights, "name: dgcrl", "lr: 0.0001", "lr_schedule: cosine",
             "center_lr_mult: 100", "batch_size: 128", "epochs: 20", "freeze_backbone_epochs: 1",
             "augment: true", "crop_scale: [0.16, 1]", "eval_resize_ratio: 1.14285714285714",
             "# pretrained: ", "1 classifier tensors ignored",
             "# dry run: config and data are valid"})
      BOOST_TEST(r.output.find(want) != std::string::npos, name << " lacks '" << want << "'");
  }
  // Without the weights file the dry run names it.
  const auto missing = run_command(nsl_dist() + " train --config " + NSL_SOURCE_DIR +
                                   "/configs/cub200_r50.yaml --dry-run --set data.path=" + data +
                                   " --set model.pretrained=" + (dir / "absent.safetensors"));
  BOOST_TEST(missing.exit_code != 0);
  BOOST_TEST(missing.output.find("absent.safetensors") != std::string::npos, missing.output);
}
