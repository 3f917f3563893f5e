// nsl_dist prep: converts a real dataset (CUB-200-2011, CARS196, SOP, In-Shop, Omniglot, class
// folders, CSV list) into HDF5 shards with a manifest.
#include <cstdio>

#include "data/prep/converters.h"
#include "data/prep/prep_runner.h"
#include "launch/commands.h"

namespace nsl {

void add_prep_command(CLI::App& app, PrepArgs& args) {
  CLI::App* cmd =
      app.add_subcommand("prep", "convert a real dataset into HDF5 shards (README \"Datasets\")");
  std::string names;
  for (const auto& n : prep_dataset_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("--dataset", args.dataset, "dataset layout: " + names)->required();
  cmd->add_option("--root", args.root, "dataset folder (csv: the CSV file)")->required();
  cmd->add_option("--out", args.out, "output dataset folder")->required();
  cmd->add_option("--shards", args.shards, "shards per split")->capture_default_str();
  cmd->add_option("--image-size", args.image_size, "output height and width in pixels")
      ->capture_default_str();
  cmd->add_option("--channels", args.channels, "1 (gray) or 3 (RGB)")->capture_default_str();
  cmd->add_flag("--bbox-crop", args.bbox_crop, "crop to the bounding box (cub200, cars196)");
  cmd->add_option("--workers", args.workers, "decoding threads (0: all cores)")
      ->capture_default_str();
  cmd->add_option("--on-bad-image", args.on_bad_image, "fail or skip")
      ->check(CLI::IsMember({"fail", "skip"}))
      ->capture_default_str();
  cmd->add_option("--val-alphabets", args.val_alphabets,
                  "omniglot: also write splits val (N whole background alphabets, evenly spread "
                  "over the sorted list) and tune_train (the other background alphabets); "
                  "0: none")
      ->capture_default_str();
  cmd->add_flag("--quiet", args.quiet, "no progress on stderr, no list of val alphabets");
}

int run_prep(const PrepArgs& args) {
  PrepOptions o;
  o.dataset = args.dataset;
  o.root = args.root;
  o.out = args.out;
  o.shards = args.shards;
  o.image_size = args.image_size;
  o.channels = args.channels;
  o.bbox_crop = args.bbox_crop;
  o.workers = args.workers;
  o.skip_bad_images = args.on_bad_image == "skip";
  o.progress = !args.quiet;
  o.val_alphabets = args.val_alphabets;
  const PrepResult r = prep_dataset(o);

  if (!r.val_alphabets.empty() && !args.quiet) {
    std::string names;
    for (const auto& a : r.val_alphabets) names += (names.empty() ? "" : ", ") + a;
    std::printf("val alphabets (%zu): %s\n", r.val_alphabets.size(), names.c_str());
  }

  int64_t images = 0;
  for (const auto& [name, split] : r.manifest.splits) {
    int64_t bytes = 0;
    for (const auto& shard : split.shards) bytes += shard.bytes;
    images += split.num_images;
    std::printf("%-8s %6lld classes %8lld images %12lld bytes in %zu shards\n", name.c_str(),
                static_cast<long long>(split.num_classes), static_cast<long long>(split.num_images),
                static_cast<long long>(bytes), split.shards.size());
  }
  if (!r.skipped.empty()) {
    std::printf("skipped %zu bad images:\n", r.skipped.size());
    for (const auto& file : r.skipped) std::printf("  %s\n", file.c_str());
  }
  std::printf("wrote %s: %lld images in %.1f s (%.0f images/s, %lld workers)\n", args.out.c_str(),
              static_cast<long long>(images), r.seconds,
              r.seconds > 0 ? static_cast<double>(images) / r.seconds : 0.0,
              static_cast<long long>(r.workers));
  return 0;
}

}  // namespace nsl
