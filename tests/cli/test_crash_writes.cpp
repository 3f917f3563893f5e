// Every writer of nsl_dist against a crash: the real commands run with the nsl_crash_preload shim
// (tests/cli/crash_preload.cpp), which kills the process with SIGKILL in the middle of writing the
// new version of a file, or just before renaming it into place. Afterwards the previous version
// must be there byte for byte (or nothing, when there was none), and the next run of the same
// command must succeed and leave no temporary behind. Writers: checkpoints, the metrics.jsonl
// rewrite on resume, datasets (prep/synth), embeddings files, eval --json, the FAISS index cache,
// reports.
#define BOOST_TEST_MODULE crash_writes
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cli/cli_support.h"
#include "cli/train_runs.h"
#include "data/embedding_file.h"
#include "train/checkpoint_store.h"

using namespace nsl::test;
namespace fs = std::filesystem;

namespace {

constexpr int kKilled = 128 + 9;  // SIGKILL, as run_command reports it

// `command` under the shim: killed mid-write of a file whose path contains `path_part`
// (at = "write:<bytes>") or when renaming onto a path ending with it (at = "rename").
CommandResult crash(const std::string& command, const std::string& path_part,
                    const std::string& at) {
  return run_command(std::string("LD_PRELOAD=") + NSL_CRASH_PRELOAD + " NSL_TEST_CRASH_PATH='" +
                     path_part + "' NSL_TEST_CRASH_AT=" + at + " " + command);
}

// Every file under `path` (or the file itself) by relative name, with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& path) {
  std::map<std::string, std::string> files;
  if (fs::is_regular_file(path)) {
    files[""] = read_text(path);
  } else if (fs::is_directory(path)) {
    for (const auto& e : fs::recursive_directory_iterator(path)) {
      if (e.is_regular_file()) files[fs::relative(e.path(), path).string()] = read_text(e.path());
    }
  }
  return files;
}

// Entries beside `target` whose name starts with its name and ".tmp-".
std::vector<std::string> temporaries_of(const fs::path& target) {
  std::vector<std::string> found;
  const std::string prefix = target.filename().string() + ".tmp-";
  for (const auto& e : fs::directory_iterator(target.parent_path())) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) found.push_back(name);
  }
  return found;
}

// 8 classes of 6 PNG images (a disc per class, noise per image), converted with prep, a 1-epoch
// run, the embeddings of its test split.
struct World {
  ScratchDir dir{"crash_writes"};
  std::string images = dir / "images";
  std::string data = dir / "data";
  std::string config = dir / "config.yaml";
  std::string run = dir / "run";
  World() {
    cv::RNG rng(3);
    for (int c = 0; c < 8; ++c) {
      const fs::path folder = fs::path(images) / ("c" + std::to_string(c));
      fs::create_directories(folder);
      for (int i = 0; i < 6; ++i) {
        cv::Mat image(24, 24, CV_8UC3, cv::Scalar(30, 30, 30));
        cv::circle(image, cv::Point(4 + 2 * c, 18 - c), 4 + c % 3,
                   cv::Scalar(30 * c, 200 - 20 * c, 90), cv::FILLED);
        cv::Mat noise(image.size(), CV_8UC3);
        rng.fill(noise, cv::RNG::UNIFORM, 0, 40);
        image += noise;
        cv::imwrite((folder / ("i" + std::to_string(i) + ".png")).string(), image);
      }
    }
    must(nsl_dist() + " prep --dataset folder --root " + images + " --out " + data +
         " --image-size 16 --channels 3 --shards 2 --quiet");
    std::ofstream(config) << "data:\n  path: " << data
                          << "\nmodel:\n  channels: [8]\n  norm_groups: 4\n  embedding_dim: 8"
                             "\ntrain:\n  epochs: 1\n  batch_size: 16\n  threads_per_rank: 1\n";
    must(train(run, ""));
  }
  std::string train(const std::string& out, const std::string& extra) const {
    return nsl_dist() + " train --quiet --config " + config + " --out " + out + " " + extra;
  }
};

const World& world() {
  static const World w;
  return w;
}

}  // namespace

BOOST_AUTO_TEST_CASE(checkpoint_cut_mid_write_leaves_the_earlier_ones_valid) {
  const World& w = world();
  ScratchDir dir("crash_checkpoint");
  const std::string out = dir / "run";
  must(w.train(out, ""));
  const auto before = checkpoints(out);
  BOOST_REQUIRE_EQUAL(before.size(), 2u);
  const auto r = crash(w.train(out, "--set train.epochs=2 --resume auto"),
                       "/checkpoints/.tmp-step-", "write:2000");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(checkpoints(out) == before);
  for (const auto& ckpt : before) BOOST_CHECK_NO_THROW(nsl::CheckpointStore::verify(ckpt));

  must(w.train(out, "--set train.epochs=2 --resume auto"));
  const auto after = checkpoints(out);
  BOOST_TEST(after.back().filename() != before.back().filename());
  for (const auto& ckpt : after) BOOST_CHECK_NO_THROW(nsl::CheckpointStore::verify(ckpt));
  BOOST_TEST(read_metrics(out).size() == 3u);
  for (const auto& e : fs::directory_iterator(fs::path(out) / "checkpoints"))
    BOOST_TEST(e.path().filename().string().find(".tmp-") == std::string::npos, e.path());
}

BOOST_AUTO_TEST_CASE(metrics_rewrite_on_resume_cut_mid_write_keeps_the_old_file) {
  const World& w = world();
  ScratchDir dir("crash_metrics");
  const std::string out = dir / "run";
  must(w.train(out, ""));
  const fs::path metrics = fs::path(out) / "metrics.jsonl";
  const auto before = snapshot(metrics);
  BOOST_REQUIRE(!before.at("").empty());
  const auto r =
      crash(w.train(out, "--set train.epochs=2 --resume auto"), "metrics.jsonl.tmp-", "write:10");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(metrics) == before);
  must(w.train(out, "--set train.epochs=2 --resume auto"));
  BOOST_TEST(read_metrics(out).size() == 3u);
  BOOST_TEST(temporaries_of(metrics).empty());
}

BOOST_AUTO_TEST_CASE(dataset_cut_mid_shard_or_before_publishing_keeps_the_old_dataset) {
  ScratchDir dir("crash_dataset");
  const fs::path out = dir / "ds";
  const std::string synth = nsl_dist() + " synth --classes 6 --images-per-class 8 --image-size 16" +
                            " --shards 2 --out " + out.string() + " --seed ";
  // A first write cut short leaves nothing under the name.
  BOOST_TEST(crash(synth + "1", "/ds.tmp-", "write:3000").exit_code == kKilled);
  BOOST_TEST(!fs::exists(out));
  must(synth + "1");
  const auto before = snapshot(out);
  BOOST_REQUIRE(before.count("manifest.json") == 1u);
  auto r = crash(synth + "2", "/ds.tmp-", "write:3000");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(out) == before);
  r = crash(synth + "2", "/ds", "rename");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(out) == before);

  must(synth + "2");
  BOOST_TEST(snapshot(out) != before);
  BOOST_TEST(temporaries_of(out).empty());
}

BOOST_AUTO_TEST_CASE(embeddings_file_cut_mid_write_or_before_the_rename_keeps_the_old_file) {
  const World& w = world();
  ScratchDir dir("crash_embed");
  const fs::path file = dir / "emb.h5";
  const std::string embed = nsl_dist() + " embed --checkpoint " + w.run + " --out " + file.string();
  BOOST_TEST(crash(embed, "emb.h5.tmp-", "write:4000").exit_code == kKilled);
  BOOST_TEST(!fs::exists(file));
  must(embed);
  const auto before = snapshot(file);
  auto r = crash(embed + " --split train", "emb.h5.tmp-", "write:4000");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(file) == before);
  r = crash(embed + " --split train", "/emb.h5", "rename");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(file) == before);

  must(embed + " --split train");
  BOOST_TEST(nsl::read_embedding_file(file.string()).split == "train");
  BOOST_TEST(temporaries_of(file).empty());
}

BOOST_AUTO_TEST_CASE(eval_json_cut_mid_write_or_before_the_rename_keeps_the_old_file) {
  const World& w = world();
  ScratchDir dir("crash_eval");
  const fs::path json = dir / "eval.json";
  const std::string eval = nsl_dist() + " eval --checkpoint " + w.run + " --json " + json.string();
  BOOST_TEST(crash(eval, "eval.json.tmp-", "write:20").exit_code == kKilled);
  BOOST_TEST(!fs::exists(json));
  must(eval);
  const auto before = snapshot(json);
  auto r = crash(eval + " --set 'eval.recall_k=[1,2]'", "eval.json.tmp-", "write:20");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(json) == before);
  r = crash(eval + " --set 'eval.recall_k=[1,2]'", "/eval.json", "rename");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(json) == before);
  must(eval + " --set 'eval.recall_k=[1,2]'");
  BOOST_TEST(snapshot(json) != before);
  BOOST_TEST(temporaries_of(json).empty());
}

// FAISS writes its index through stdio, which the shim cannot cut: the crash comes before the
// rename. The cached index stays the old one (its sidecar is removed first, so it is rebuilt).
BOOST_AUTO_TEST_CASE(faiss_index_cache_cut_before_the_rename_keeps_the_old_index) {
  const World& w = world();
  ScratchDir dir("crash_faiss");
  const std::string index = dir / "test.h5";
  must(nsl_dist() + " embed --checkpoint " + w.run + " --out " + index);
  const fs::path cache = dir / "cache.faiss";
  const std::string query = nsl_dist() + " query --checkpoint " + w.run + " --index " + index +
                            " --k 3 --image " + w.images + "/c6/i1.png --faiss-file " +
                            cache.string() + " --faiss --faiss-index ";
  must(query + "Flat");
  const auto before = snapshot(cache);
  const auto r = crash(query + "HNSW16", "/cache.faiss", "rename");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(cache) == before);
  const auto again = must(query + "HNSW16");
  BOOST_TEST(contains(again.output, "built FAISS index HNSW16"), again.output);
  BOOST_TEST(temporaries_of(cache).empty());
}

BOOST_AUTO_TEST_CASE(report_cut_mid_write_or_before_publishing_keeps_the_old_report) {
  const World& w = world();
  const fs::path report = fs::path(w.run) / "report";
  const std::string cmd = nsl_dist() + " report --run " + w.run + " --k 3 --queries ";
  must(cmd + "4");
  const auto before = snapshot(report);
  BOOST_REQUIRE(before.count("index.html") == 1u);
  auto r = crash(cmd + "6", "/index.html", "write:200");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(report) == before);
  r = crash(cmd + "6", "/report", "rename");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(report) == before);
  must(cmd + "6");
  BOOST_TEST(snapshot(report) != before);
  BOOST_TEST(temporaries_of(report).empty());
}

BOOST_AUTO_TEST_CASE(export_cut_mid_write_or_before_publishing_keeps_the_old_export) {
  const World& w = world();
  ScratchDir dir("crash_export");
  const fs::path out = dir / "export";
  const std::string cmd = nsl_dist() + " export --checkpoint " + w.run + " --out " + out.string();
  BOOST_TEST(crash(cmd, "/model.safetensors", "write:1000").exit_code == kKilled);
  BOOST_TEST(!fs::exists(out));
  must(cmd);
  const auto before = snapshot(out);
  BOOST_REQUIRE(before.count("model.json") == 1u);
  // Another input size: a different model.json, so a published second export would show.
  auto r = crash(cmd + " --image-size 20", "/centers.safetensors", "write:100");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(out) == before);
  r = crash(cmd + " --image-size 20", "/model.json", "write:50");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(out) == before);
  r = crash(cmd + " --image-size 20", "/export", "rename");
  BOOST_TEST(r.exit_code == kKilled, r.output);
  BOOST_TEST(snapshot(out) == before);
  must(cmd + " --image-size 20");
  BOOST_TEST(snapshot(out) != before);
  BOOST_TEST(temporaries_of(out).empty());
}
