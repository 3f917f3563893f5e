// nsl_dist synth: writes the generated fine-grained dataset as HDF5 shards.
#include <chrono>
#include <cstdio>

#include "data/manifest.h"
#include "data/synthetic.h"
#include "launch/commands.h"

namespace nsl {

void add_synth_command(CLI::App& app, SynthArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "synth", "write a generated fine-grained dataset (stroke compositions) as HDF5 shards");
  cmd->add_option("--out", args.out, "output dataset folder")->required();
  cmd->add_option("--classes", args.classes, "classes (half train, half test)")
      ->capture_default_str();
  cmd->add_option("--images-per-class", args.images_per_class, "images of each class")
      ->capture_default_str();
  cmd->add_option("--image-size", args.image_size, "height and width in pixels")
      ->capture_default_str();
  cmd->add_option("--shards", args.shards, "shards per split")->capture_default_str();
  cmd->add_option("--seed", args.seed, "generator seed")->capture_default_str();
}

int run_synth(const SynthArgs& args) {
  SyntheticSpec spec;
  spec.classes = args.classes;
  spec.images_per_class = args.images_per_class;
  spec.image_size = args.image_size;
  spec.shards = args.shards;
  spec.seed = args.seed;
  const auto start = std::chrono::steady_clock::now();
  write_synthetic(spec, args.out);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Manifest m = read_manifest(args.out);
  for (const auto& [name, split] : m.splits) {
    std::printf("%-5s %lld classes, %lld images, %zu shards\n", name.c_str(),
                static_cast<long long>(split.num_classes), static_cast<long long>(split.num_images),
                split.shards.size());
  }
  std::printf("wrote %s in %.1f s\n", args.out.c_str(), s);
  return 0;
}

}  // namespace nsl
