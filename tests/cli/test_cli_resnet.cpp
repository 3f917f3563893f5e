// Smoke test: a ResNet-18 trained through `nsl_dist train` on the generated dataset at 64 px, with
// one epoch of frozen backbone, finishes with finite losses.
#define BOOST_TEST_DYN_LINK
#define BOOST_TEST_MODULE cli_resnet
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "cli/cli_support.h"

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
