// ShardTrainSource / ShardEvalSource: the global batch is the same whatever the world size, checked
// against a reference built from read_shard() and the manifest.
#define BOOST_TEST_MODULE data_source
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "common/error.h"
#include "data/manifest.h"
#include "data/shard_batch_source.h"
#include "data/shard_pk_source.h"
#include "data/shard_reader.h"
#include "data/synthetic.h"

namespace fs = std::filesystem;

namespace {

// Train split: 6 classes x 11 images = 66 images in 4 shards of 17, 17, 16, 16.
struct Dataset {
  fs::path root;
  std::string dir;
  nsl::Manifest manifest;  // read once, handed to every source as launch/ does
  std::map<int64_t, std::pair<int64_t, torch::Tensor>> train;  // index -> (label, uint8 HWC)
  std::map<int64_t, std::pair<int64_t, torch::Tensor>> test;
  Dataset() {
    root = fs::temp_directory_path() / ("nsl_test_data_source-" + std::to_string(::getpid()));
    fs::remove_all(root);
    dir = (root / "synth").string();
    nsl::SyntheticSpec spec;
    spec.classes = 12;
    spec.images_per_class = 11;
    spec.image_size = 16;
    spec.shards = 4;
    spec.seed = 3;
    nsl::write_synthetic(spec, dir);
    manifest = nsl::read_manifest(dir);
    load(manifest, "train", train);
    load(manifest, "test", test);
  }
  ~Dataset() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  // Reference: global index = sum of earlier shards' sizes + position, from the files themselves.
  void load(const nsl::Manifest& m, const std::string& split,
            std::map<int64_t, std::pair<int64_t, torch::Tensor>>& out) {
    int64_t offset = 0;
    for (const auto& sh : m.splits.at(split).shards) {
      const nsl::ShardContents c = nsl::read_shard(dir + "/" + sh.file);
      for (int64_t i = 0; i < c.images.size(0); ++i)
        out[offset + i] = {c.labels[i].item<int64_t>(), c.images[i]};
      offset += c.images.size(0);
    }
  }
};

Dataset& dataset() {
  static Dataset d;
  return d;
}

// Checks a batch against the reference; returns its indices.
std::vector<int64_t> check_batch(const nsl::Batch& b,
                                 const std::map<int64_t, std::pair<int64_t, torch::Tensor>>& ref) {
  const int64_t n = b.indices.numel();
  BOOST_REQUIRE_EQUAL(b.labels.numel(), n);
  BOOST_REQUIRE_EQUAL(b.images.dim(), 4);
  BOOST_REQUIRE_EQUAL(b.images.size(0), n);
  BOOST_CHECK_EQUAL(b.images.size(1), 1);
  BOOST_CHECK_EQUAL(b.images.size(2), 16);
  BOOST_CHECK_EQUAL(b.images.size(3), 16);
  BOOST_CHECK(b.images.dtype() == torch::kFloat32);
  BOOST_CHECK(b.labels.dtype() == torch::kInt64);
  BOOST_CHECK(b.indices.dtype() == torch::kInt64);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t g = b.indices[i].item<int64_t>();
    idx.push_back(g);
    auto it = ref.find(g);
    BOOST_REQUIRE(it != ref.end());
    BOOST_CHECK_EQUAL(b.labels[i].item<int64_t>(), it->second.first);
    // (x / 255 - 0.5) / 0.5 computed here in double, pixel by pixel, from the raw bytes.
    const torch::Tensor raw = it->second.second.contiguous();
    const uint8_t* p = raw.data_ptr<uint8_t>();
    const torch::Tensor img = b.images[i].contiguous();
    const float* q = img.data_ptr<float>();
    double worst = 0;
    for (int64_t k = 0; k < 16 * 16; ++k)
      worst = std::max(worst, std::abs((p[k] / 255.0 - 0.5) / 0.5 - double(q[k])));
    BOOST_CHECK_LT(worst, 1e-6);
  }
  return idx;
}

// The global batch at (epoch, step) from the concatenation of all ranks' parts, by index; also
// checks that images are identical for the same index across world sizes.
using Step = std::map<int64_t, torch::Tensor>;

std::vector<std::vector<Step>> run(int64_t world, int64_t batch, uint64_t seed, int64_t epochs) {
  std::vector<std::unique_ptr<nsl::ShardTrainSource>> ranks;
  for (int64_t r = 0; r < world; ++r)
    ranks.push_back(std::make_unique<nsl::ShardTrainSource>(dataset().dir, dataset().manifest,
                                                            "train", r, world, batch, seed));
  std::vector<std::vector<Step>> out;
  for (int64_t e = 0; e < epochs; ++e) {
    std::vector<Step> steps;
    for (auto& src : ranks) src->start_epoch(e);
    for (int64_t t = 0; t < ranks[0]->steps_per_epoch(); ++t) {
      Step step;
      for (auto& src : ranks) {
        const nsl::Batch b = src->next_batch();
        for (int64_t g : check_batch(b, dataset().train))
          BOOST_CHECK_MESSAGE(step.count(g) == 0, "index " << g << " twice in one step");
        for (int64_t i = 0; i < b.indices.numel(); ++i)
          step[b.indices[i].item<int64_t>()] = b.images[i];
      }
      steps.push_back(step);
    }
    out.push_back(steps);
  }
  return out;
}

std::vector<int64_t> keys(const Step& s) {
  std::vector<int64_t> k;
  for (const auto& [i, t] : s) k.push_back(i);
  return k;
}

}  // namespace

BOOST_AUTO_TEST_CASE(steps_per_epoch_and_quota) {
  // q_s = 3 for B = 12, S = 4: min(17/3, 17/3, 16/3, 16/3) = 5.
  for (int64_t world : {1, 2, 3, 4}) {
    for (int64_t r = 0; r < world; ++r) {
      nsl::ShardTrainSource src(dataset().dir, dataset().manifest, "train", r, world, 12, 1);
      BOOST_CHECK_EQUAL(src.steps_per_epoch(), 5);
      BOOST_CHECK_EQUAL(src.num_classes(), 6);
      BOOST_CHECK_EQUAL(src.global_batch_size(), 12);
    }
  }
  // B = 10: quotas 3, 3, 2, 2 -> min(17/3, 17/3, 16/2, 16/2) = 5; rank 0 of 2 owns shards 0, 2.
  nsl::ShardTrainSource src(dataset().dir, dataset().manifest, "train", 0, 2, 10, 1);
  BOOST_CHECK_EQUAL(src.steps_per_epoch(), 5);
  BOOST_CHECK_EQUAL(src.local_batch_size(), 5);
  // B = 2: quotas 1, 1, 0, 0 -> 17 steps; rank 1 of 2 owns shards 1, 3 -> 1 sample per step.
  nsl::ShardTrainSource small(dataset().dir, dataset().manifest, "train", 1, 2, 2, 1);
  BOOST_CHECK_EQUAL(small.steps_per_epoch(), 17);
  BOOST_CHECK_EQUAL(small.local_batch_size(), 1);
  small.start_epoch(0);
  BOOST_CHECK_EQUAL(small.next_batch().indices.numel(), 1);
  // B = 70 > 66 images: no step fits.
  BOOST_CHECK_THROW(nsl::ShardTrainSource(dataset().dir, dataset().manifest, "train", 0, 1, 70, 1),
                    nsl::DataError);
}

BOOST_AUTO_TEST_CASE(global_batch_independent_of_world_size) {
  const auto w1 = run(1, 12, 42, 2);
  for (int64_t world : {2, 3, 4}) {
    const auto wn = run(world, 12, 42, 2);
    BOOST_REQUIRE_EQUAL(wn.size(), w1.size());
    for (size_t e = 0; e < w1.size(); ++e) {
      BOOST_REQUIRE_EQUAL(wn[e].size(), w1[e].size());
      for (size_t t = 0; t < w1[e].size(); ++t) {
        BOOST_CHECK(keys(wn[e][t]) == keys(w1[e][t]));
        for (const auto& [g, img] : w1[e][t]) {
          auto it = wn[e][t].find(g);
          if (it != wn[e][t].end()) BOOST_CHECK(torch::equal(it->second, img));
        }
      }
    }
  }
  // Every step has 12 samples; within an epoch no sample repeats; epochs differ.
  for (size_t e = 0; e < w1.size(); ++e) {
    std::set<int64_t> seen;
    for (const auto& step : w1[e]) {
      BOOST_CHECK_EQUAL(step.size(), 12u);
      for (const auto& [g, img] : step) BOOST_CHECK(seen.insert(g).second);
    }
    BOOST_CHECK_EQUAL(seen.size(), 60u);
  }
  BOOST_CHECK(keys(w1[0][0]) != keys(w1[1][0]));
}

BOOST_AUTO_TEST_CASE(rank_parts_ordered_by_shard_and_uneven_quotas) {
  // World 2, B = 10: rank 0 owns shards 0 (q 3, indices 0..16) and 2 (q 2, indices 34..49).
  nsl::ShardTrainSource r0(dataset().dir, dataset().manifest, "train", 0, 2, 10, 5);
  nsl::ShardTrainSource w1(dataset().dir, dataset().manifest, "train", 0, 1, 10, 5);
  r0.start_epoch(3);
  w1.start_epoch(3);
  for (int64_t t = 0; t < r0.steps_per_epoch(); ++t) {
    const nsl::Batch a = r0.next_batch();
    const nsl::Batch all = w1.next_batch();
    BOOST_REQUIRE_EQUAL(a.indices.numel(), 5);
    BOOST_REQUIRE_EQUAL(all.indices.numel(), 10);
    for (int64_t i = 0; i < 3; ++i) {
      BOOST_CHECK_LT(a.indices[i].item<int64_t>(), 17);
      BOOST_CHECK_EQUAL(a.indices[i].item<int64_t>(), all.indices[i].item<int64_t>());
    }
    for (int64_t i = 3; i < 5; ++i) {
      BOOST_CHECK_GE(a.indices[i].item<int64_t>(), 34);
      BOOST_CHECK_LT(a.indices[i].item<int64_t>(), 50);
      BOOST_CHECK_EQUAL(a.indices[i].item<int64_t>(), all.indices[i + 3].item<int64_t>());
    }
  }
}

BOOST_AUTO_TEST_CASE(seeded_sequences) {
  const auto a = run(2, 12, 9, 2);
  const auto b = run(2, 12, 9, 2);
  const auto c = run(2, 12, 10, 2);
  bool all_same = true;
  for (size_t e = 0; e < a.size(); ++e)
    for (size_t t = 0; t < a[e].size(); ++t) {
      BOOST_CHECK(keys(a[e][t]) == keys(b[e][t]));
      all_same = all_same && keys(a[e][t]) == keys(c[e][t]);
    }
  BOOST_CHECK(!all_same);

  // Restarting an epoch replays it exactly.
  nsl::ShardTrainSource src(dataset().dir, dataset().manifest, "train", 0, 1, 12, 9);
  src.start_epoch(1);
  const auto first = src.next_batch().indices.clone();
  src.next_batch();
  src.start_epoch(1);
  BOOST_CHECK(torch::equal(src.next_batch().indices, first));

  const auto p = nsl::seeded_permutation(50, 123);
  std::set<int64_t> s(p.begin(), p.end());
  BOOST_CHECK_EQUAL(s.size(), 50u);
  BOOST_CHECK_EQUAL(*s.begin(), 0);
  BOOST_CHECK_EQUAL(*s.rbegin(), 49);
  BOOST_CHECK(nsl::seeded_permutation(50, 123) == p);
  BOOST_CHECK(nsl::seeded_permutation(50, 124) != p);
}

BOOST_AUTO_TEST_CASE(misuse_and_bad_configurations) {
  nsl::ShardTrainSource src(dataset().dir, dataset().manifest, "train", 0, 1, 12, 1);
  BOOST_CHECK_THROW(src.next_batch(), std::logic_error);  // before start_epoch
  src.start_epoch(0);
  for (int64_t t = 0; t < src.steps_per_epoch(); ++t) src.next_batch();
  BOOST_CHECK_THROW(src.next_batch(), std::logic_error);
  src.start_epoch(1);
  BOOST_CHECK_NO_THROW(src.next_batch());

  try {
    nsl::ShardTrainSource too_many(dataset().dir, dataset().manifest, "train", 0, 5, 12, 1);
    BOOST_FAIL("world size 5 > 4 shards must throw");
  } catch (const nsl::DataError& e) {
    const std::string msg = e.what();
    BOOST_TEST_MESSAGE(msg);
    BOOST_CHECK(msg.find("4 shards") != std::string::npos);
    BOOST_CHECK(msg.find("--shards") != std::string::npos);
  }
  BOOST_CHECK_THROW(nsl::ShardEvalSource(dataset().dir, dataset().manifest, "test", 4, 5),
                    nsl::DataError);
  BOOST_CHECK_THROW(nsl::ShardTrainSource(dataset().dir, dataset().manifest, "val", 0, 1, 12, 1),
                    nsl::DataError);
  BOOST_CHECK_THROW(nsl::read_manifest(dataset().dir + "-nope"), nsl::DataError);
  BOOST_CHECK_THROW(nsl::ShardTrainSource(dataset().dir, dataset().manifest, "train", 2, 2, 12, 1),
                    nsl::ConfigError);
  BOOST_CHECK_THROW(nsl::ShardTrainSource(dataset().dir, dataset().manifest, "train", 0, 1, 0, 1),
                    nsl::ConfigError);
}

BOOST_AUTO_TEST_CASE(eval_parts_cover_the_split_once) {
  const auto& ref = dataset().test;
  for (int64_t world : {1, 2, 3, 4}) {
    std::map<int64_t, int> seen;
    for (int64_t r = 0; r < world; ++r) {
      nsl::ShardEvalSource src(dataset().dir, dataset().manifest, "test", r, world);
      BOOST_CHECK_EQUAL(src.total_size(), 66);
      BOOST_CHECK_EQUAL(src.num_classes(), 6);
      // Two uneven slices cover the local part.
      const int64_t n = src.local_size(), mid = n / 3;
      for (const auto& [b, e] : {std::pair<int64_t, int64_t>{0, mid}, {mid, n}}) {
        const nsl::Batch batch = src.slice(b, e);
        BOOST_CHECK_EQUAL(batch.indices.numel(), e - b);
        for (int64_t g : check_batch(batch, ref)) ++seen[g];
      }
      BOOST_CHECK_EQUAL(src.slice(n, n).indices.numel(), 0);
      BOOST_CHECK_THROW(src.slice(0, n + 1), std::out_of_range);
    }
    BOOST_CHECK_EQUAL(seen.size(), 66u);
    for (const auto& [g, count] : seen) BOOST_CHECK_EQUAL(count, 1);
    BOOST_CHECK_EQUAL(seen.begin()->first, 0);
    BOOST_CHECK_EQUAL(seen.rbegin()->first, 65);
  }
}

// P x K: the ranks' parts, in rank order, are exactly the single-process batch, and every sample
// read sample by sample equals the one read with the whole shard.
BOOST_AUTO_TEST_CASE(pk_parts_concatenate_to_the_single_process_batch) {
  const int64_t batch = 12, k = 3;
  nsl::ShardPKSource single(dataset().dir, dataset().manifest, "train", 0, 1, batch, k, 9);
  BOOST_CHECK_EQUAL(single.global_batch_size(), batch);
  BOOST_CHECK_EQUAL(single.steps_per_epoch(), 66 / batch);
  BOOST_CHECK_EQUAL(single.num_classes(), 6);
  for (int64_t world : {2, 5}) {
    std::vector<std::unique_ptr<nsl::ShardPKSource>> ranks;
    for (int64_t r = 0; r < world; ++r)
      ranks.push_back(std::make_unique<nsl::ShardPKSource>(dataset().dir, dataset().manifest,
                                                           "train", r, world, batch, k, 9));
    for (int64_t epoch : {1, 2}) {
      single.start_epoch(epoch);
      for (auto& src : ranks) src->start_epoch(epoch);
      for (int64_t t = 0; t < single.steps_per_epoch(); ++t) {
        const nsl::Batch whole = single.next_batch();
        const std::vector<int64_t> expected = check_batch(whole, dataset().train);
        // P = 4 classes, K = 3 consecutive images each.
        for (int64_t p = 0; p < 4; ++p)
          for (int64_t j = 1; j < k; ++j)
            BOOST_CHECK_EQUAL(whole.labels[p * k + j].item<int64_t>(),
                              whole.labels[p * k].item<int64_t>());
        std::vector<int64_t> joined;
        for (auto& src : ranks) {
          const nsl::Batch part = src->next_batch();
          BOOST_CHECK_LE(std::abs(part.indices.numel() - batch / world), 1);
          for (int64_t g : check_batch(part, dataset().train)) joined.push_back(g);
        }
        BOOST_CHECK(joined == expected);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(pk_misuse_and_bad_configurations) {
  nsl::ShardPKSource src(dataset().dir, dataset().manifest, "train", 0, 1, 12, 3, 1);
  BOOST_CHECK_THROW(src.next_batch(), std::logic_error);
  BOOST_CHECK_THROW(nsl::ShardPKSource(dataset().dir, dataset().manifest, "train", 0, 1, 12, 5, 1),
                    nsl::ConfigError);  // 12 is not a multiple of 5
  BOOST_CHECK_THROW(nsl::ShardPKSource(dataset().dir, dataset().manifest, "train", 0, 1, 14, 2, 1),
                    nsl::ConfigError);  // 7 classes per batch, the split has 6
  BOOST_CHECK_THROW(nsl::ShardPKSource(dataset().dir, dataset().manifest, "train", 0, 13, 12, 3, 1),
                    nsl::ConfigError);  // more ranks than samples per batch
}
