// nsl_dist embed and nsl_dist query end to end on a small folder dataset of real PNG files
// (written here with OpenCV, converted with nsl_dist prep, a tiny model trained for one epoch):
// the embeddings file through h5dump and through read_embedding_file, query results against the
// evaluator's exact search (nearest_neighbours / nearest_in_gallery on the embedded split), FAISS
// Flat against exact search, the FAISS cache, and the errors (exit 3). The case that runs embed
// under mpirun -np 2 is disabled here and run by the test test_embed_query_mpi (label mpi).
#define BOOST_TEST_MODULE cli_embed_query
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_support.h"
#include "data/embedding_file.h"
#include "eval/nearest.h"

using namespace nsl::test;
namespace fs = std::filesystem;

namespace {

constexpr int kClasses = 8;  // c0..c3 train, c4..c7 test (the folder layout's halves)
constexpr int kPerClass = 8;
constexpr int64_t kTestImages = 4 * kPerClass;
constexpr int64_t kDim = 8;

// 40 x 40 RGB images: per class a colour and a disc position, per image a shifted disc, a
// random bar and pixel noise, so no two images are alike.
void write_images(const fs::path& root) {
  cv::RNG rng(7);
  for (int c = 0; c < kClasses; ++c) {
    const fs::path dir = root / ("c" + std::to_string(c));
    fs::create_directories(dir);
    const cv::Scalar colour((37 * c) % 256, (91 * c + 40) % 256, (53 * c + 120) % 256);
    for (int i = 0; i < kPerClass; ++i) {
      cv::Mat image(40, 40, CV_8UC3, cv::Scalar(20 + 10 * (c % 3), 30, 40));
      const cv::Point centre(8 + 3 * c + rng.uniform(-3, 4), 30 - 2 * c + rng.uniform(-3, 4));
      cv::circle(image, centre, 6 + c % 4, colour, cv::FILLED);
      const cv::Point a(rng.uniform(0, 40), rng.uniform(0, 40));
      const cv::Point b(rng.uniform(0, 40), rng.uniform(0, 40));
      cv::line(image, a, b, cv::Scalar(200, 200, 200), 2);
      cv::Mat noise(image.size(), CV_8UC3);
      rng.fill(noise, cv::RNG::UNIFORM, 0, 30);
      image += noise;
      const std::string file = (dir / ("i" + std::to_string(i) + ".png")).string();
      if (!cv::imwrite(file, image)) throw std::runtime_error("cannot write " + file);
    }
  }
}

// Made once per process: dataset, one-epoch run, embeddings of the test split.
struct World {
  ScratchDir dir{"embed_query"};
  std::string images = dir / "images";
  std::string data = dir / "data";
  std::string run = dir / "run";
  std::string index = dir / "test.h5";
  std::string embed_output;
  World() {
    write_images(images);
    must(nsl_dist() + " prep --dataset folder --root " + images + " --out " + data +
         " --image-size 16 --channels 3 --shards 2 --quiet");
    const std::string config = dir / "config.yaml";
    std::ofstream(config) << "data:\n  path: " << data
                          << "\nmodel:\n  channels: [8]\n  norm_groups: 4\n  embedding_dim: "
                          << kDim << "\ntrain:\n  epochs: 1\n  batch_size: 16\n";
    must(nsl_dist() + " train --quiet --config " + config + " --out " + run);
    embed_output = must(nsl_dist() + " embed --checkpoint " + run + " --out " + index).output;
  }
  std::string checkpoint() const {
    for (const auto& e : fs::directory_iterator(fs::path(run) / "checkpoints")) return e.path();
    throw std::runtime_error("no checkpoint under " + run);
  }
};

const World& world() {
  static const World w;
  return w;
}

struct Hit {
  int64_t rank = 0;
  double score = 0;
  int64_t index = 0;
  std::string label, path;
};

// The table after the first "rank\tscore..." header of a query's output.
std::vector<Hit> parse_hits(const std::string& output) {
  std::istringstream in(output);
  std::string line;
  bool table = false;
  std::vector<Hit> hits;
  while (std::getline(in, line)) {
    if (line == "rank\tscore\tindex\tlabel\tpath") {
      if (table) break;
      table = true;
      continue;
    }
    if (!table) continue;
    if (line.empty() || line[0] == '#') break;
    std::istringstream fields(line);
    Hit h;
    std::string rank, score, index;
    std::getline(fields, rank, '\t');
    std::getline(fields, score, '\t');
    std::getline(fields, index, '\t');
    std::getline(fields, h.label, '\t');
    std::getline(fields, h.path, '\t');
    h.rank = std::stoll(rank);
    h.score = std::stod(score);
    h.index = std::stoll(index);
    hits.push_back(h);
  }
  return hits;
}

int64_t row_of(const nsl::EmbeddingFile& f, const std::string& path) {
  for (size_t i = 0; i < f.paths.size(); ++i)
    if (f.paths[i] == path) return static_cast<int64_t>(i);
  throw std::runtime_error("no row for " + path);
}

// `got` must list `want`'s rows in order. Where two rows have cosines to `query` within 1e-5 of
// each other the network's batch-size-dependent rounding may swap them: such a swap is accepted
// (and only such a swap), everything else must agree exactly.
void check_same_ranking(const std::vector<int64_t>& got, const std::vector<int64_t>& want,
                        const torch::Tensor& embeddings, int64_t query_row) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  const torch::Tensor cos = embeddings.matmul(embeddings[query_row]);
  for (size_t r = 0; r < got.size(); ++r) {
    if (got[r] == want[r]) continue;
    const double a = cos[got[r]].item<double>(), b = cos[want[r]].item<double>();
    BOOST_TEST(std::abs(a - b) < 1e-5, "rank " << r + 1 << ": row " << got[r] << " (cos " << a
                                               << ") where the evaluator has row " << want[r]
                                               << " (cos " << b << ")");
  }
}

std::string query(const std::string& args) {
  return nsl_dist() + " query --checkpoint " + world().run + " --index " + world().index + " " +
         args;
}

}  // namespace

BOOST_AUTO_TEST_CASE(embed_writes_a_file_h5dump_and_the_reader_understand) {
  const World& w = world();
  BOOST_TEST(contains(w.embed_output, "wrote " + w.index + ": 32 x 8 float32 embeddings"),
             w.embed_output);
  const auto header = must("h5dump -H -A " + w.index).output;
  BOOST_TEST(contains(header, "DATASET \"embeddings\""), header);
  BOOST_TEST(contains(header, "H5T_IEEE_F32LE"), header);
  BOOST_TEST(contains(header, "( 32, 8 ) / ( 32, 8 )"), header);
  for (const char* attr :
       {"format", "version", "split", "dataset", "config_hash", "checkpoint", "epoch",
        "embedding_dim", "image_size", "channels", "embeddings_fnv1a64"})
    BOOST_TEST(contains(header, "ATTRIBUTE \"" + std::string(attr) + "\""), attr);
  BOOST_TEST(contains(header, "\"nsl_dist.embeddings\""), header);
  const auto values = must("h5dump -d /paths -d /labels -d /class_names " + w.index).output;
  BOOST_TEST(contains(values, "\"c4/i0.png\""), values);
  BOOST_TEST(contains(values, "\"c7\""), values);

  const nsl::EmbeddingFile f = nsl::read_embedding_file(w.index);
  BOOST_TEST(f.size() == kTestImages);
  BOOST_TEST(f.dim() == kDim);
  BOOST_TEST(f.split == "test");
  BOOST_TEST(f.image_size == 16);
  BOOST_TEST(f.channels == 3);
  BOOST_TEST(f.epoch == 2);  // the checkpoint's position: written at epoch 1's end, it says {2, 0}
  BOOST_TEST(f.step == 0);
  BOOST_TEST((f.class_names == std::vector<std::string>{"c4", "c5", "c6", "c7"}));
  BOOST_TEST(f.paths.front() == "c4/i0.png");
  BOOST_TEST(f.labels[row_of(f, "c5/i0.png")].item<int64_t>() == 1);
  BOOST_TEST(f.labels[row_of(f, "c7/i7.png")].item<int64_t>() == 3);
  BOOST_TEST(torch::equal(f.indices, torch::arange(kTestImages, torch::kInt64)));
  BOOST_TEST(torch::allclose(f.embeddings.norm(2, 1), torch::ones({kTestImages}), 1e-5, 1e-5));
  nlohmann::json manifest;
  std::ifstream(fs::path(w.checkpoint()) / "manifest.json") >> manifest;
  BOOST_TEST(f.config_hash == manifest.at("info").at("config_hash").get<std::string>());
  BOOST_TEST(fs::path(f.checkpoint) == fs::absolute(w.checkpoint()));
  // The write is atomic: no temporary file is left next to it.
  for (const auto& e : fs::directory_iterator(w.dir.path()))
    BOOST_TEST(!contains(e.path().filename().string(), ".tmp-"), e.path());
}

BOOST_AUTO_TEST_CASE(query_returns_the_evaluators_top_k) {
  const World& w = world();
  const nsl::EmbeddingFile f = nsl::read_embedding_file(w.index);
  for (const std::string sample : {"c5/i3.png", "c7/i6.png"}) {
    const int64_t row = row_of(f, sample);
    const auto r = must(query("--k 6 --image " + w.images + "/" + sample));
    const std::vector<Hit> hits = parse_hits(r.output);
    BOOST_REQUIRE_MESSAGE(hits.size() == 6u, r.output);
    // The image itself is in the gallery: rank 1 with cosine ~1 (same pixels, same network; only
    // the batch size differs from embed's).
    BOOST_TEST(hits[0].index == row, r.output);
    BOOST_TEST(hits[0].score > 0.99999, r.output);
    BOOST_TEST(hits[0].path == sample);
    BOOST_TEST(hits[0].label == sample.substr(0, 2));
    // Then the evaluator's neighbours of that row, itself excluded.
    const nsl::Neighbours nn = nsl::nearest_neighbours(f.embeddings, row, row + 1, 5);
    std::vector<int64_t> want{row}, got;
    for (int64_t j = 0; j < 5; ++j) want.push_back(nn.indices[0][j].item<int64_t>());
    for (const Hit& h : hits) got.push_back(h.index);
    check_same_ranking(got, want, f.embeddings, row);
    // And nearest_in_gallery with the stored row as the query gives the same list and scores.
    const nsl::Neighbours g =
        nsl::nearest_in_gallery(f.embeddings.slice(0, row, row + 1), f.embeddings, 6);
    for (int64_t j = 0; j < 6; ++j) {
      BOOST_TEST(std::abs(hits[static_cast<size_t>(j)].score - g.scores[0][j].item<double>()) <
                 1e-5);
      const int64_t i = hits[static_cast<size_t>(j)].index;
      BOOST_TEST(hits[static_cast<size_t>(j)].path == f.paths[static_cast<size_t>(i)]);
      BOOST_TEST(hits[static_cast<size_t>(j)].label ==
                 f.class_names[static_cast<size_t>(f.labels[i].item<int64_t>())]);
    }
  }
}

BOOST_AUTO_TEST_CASE(faiss_flat_matches_exact_and_the_index_is_cached) {
  const World& w = world();
  const nsl::EmbeddingFile f = nsl::read_embedding_file(w.index);
  const std::string faiss_file = w.dir / "cache.faiss";
  const std::string image = w.images + "/c6/i2.png";
  const auto exact = must(query("--k 8 --image " + image));
  const auto first = must(query("--k 8 --faiss --faiss-file " + faiss_file + " --image " + image));
  BOOST_TEST(contains(first.output, "built FAISS index Flat"), first.output);
  BOOST_TEST(contains(first.output, "by faiss Flat search"), first.output);
  std::vector<int64_t> want, got;
  for (const Hit& h : parse_hits(exact.output)) want.push_back(h.index);
  for (const Hit& h : parse_hits(first.output)) got.push_back(h.index);
  BOOST_REQUIRE_EQUAL(want.size(), 8u);
  check_same_ranking(got, want, f.embeddings, row_of(f, "c6/i2.png"));

  // Same embeddings, same factory: loaded. The query given as a gallery path is found under the
  // dataset's source root.
  const auto second =
      must(query("--k 8 --faiss --faiss-file " + faiss_file + " --image c6/i2.png"));
  BOOST_TEST(contains(second.output, "loaded FAISS index '" + faiss_file + "'"), second.output);
  std::vector<int64_t> again;
  for (const Hit& h : parse_hits(second.output)) again.push_back(h.index);
  BOOST_TEST(again == got);

  // Another factory: rebuilt, saying why; --faiss-recall prints recall and timings.
  const auto hnsw = must(query("--k 4 --faiss-index HNSW16 --faiss-file " + faiss_file +
                               " --faiss-recall --recall-queries 16"));
  BOOST_TEST(contains(hnsw.output, "built FAISS index HNSW16"), hnsw.output);
  BOOST_TEST(contains(hnsw.output, "factory \"Flat\""), hnsw.output);
  BOOST_TEST(contains(hnsw.output, "faiss recall@4 "), hnsw.output);
  const auto flat = must(
      query("--k 4 --faiss --faiss-file " + faiss_file + " --faiss-recall --recall-queries 16"));
  BOOST_TEST(contains(flat.output, "faiss recall@4 1.0000 (Flat vs exact, 16 gallery rows"),
             flat.output);
  BOOST_TEST(contains(flat.output, " ms, faiss "), flat.output);

  const auto bad = run_command(
      query("--faiss --faiss-index NoSuchIndex --faiss-file " + faiss_file + " --image " + image));
  BOOST_TEST(bad.exit_code == 2, bad.output);
  BOOST_TEST(contains(bad.output, "NoSuchIndex"), bad.output);
}

BOOST_AUTO_TEST_CASE(a_foreign_or_missing_index_exits_3) {
  const World& w = world();
  const std::string image = w.images + "/c4/i1.png";
  nsl::EmbeddingFile f = nsl::read_embedding_file(w.index);
  const std::string hash = f.config_hash;
  f.config_hash = "0123456789abcdef";
  const std::string other = w.dir / "other.h5";
  nsl::write_embedding_file(other, f);
  const auto r = run_command(nsl_dist() + " query --checkpoint " + w.run + " --index " + other +
                             " --image " + image);
  BOOST_TEST(r.exit_code == 3, r.output);
  BOOST_TEST(contains(r.output, "was written by model config 0123456789abcdef, the checkpoint"),
             r.output);
  BOOST_TEST(contains(r.output, "has " + hash), r.output);
  BOOST_TEST(contains(r.output, "nsl_dist embed"), r.output);

  f.config_hash = hash;
  f.weights_fnv1a64 = "fedcba9876543210";
  nsl::write_embedding_file(other, f);
  const auto weights = run_command(nsl_dist() + " query --checkpoint " + w.run + " --index " +
                                   other + " --image " + image);
  BOOST_TEST(weights.exit_code == 3, weights.output);
  BOOST_TEST(contains(weights.output, "other weights"), weights.output);

  const auto missing = run_command(nsl_dist() + " query --checkpoint " + w.run + " --index " +
                                   w.dir / "none.h5" + " --image " + image);
  BOOST_TEST(missing.exit_code == 3, missing.output);
  BOOST_TEST(contains(missing.output, "none.h5' does not exist"), missing.output);

  const auto no_image = run_command(query("--image " + w.dir / "nothing.png"));
  BOOST_TEST(no_image.exit_code == 3, no_image.output);
  BOOST_TEST(contains(no_image.output, "nothing.png"), no_image.output);

  const std::string junk = w.dir / "junk.h5";
  std::ofstream(junk) << "not hdf5";
  const auto bad = run_command(nsl_dist() + " query --checkpoint " + w.run + " --index " + junk +
                               " --image " + image);
  BOOST_TEST(bad.exit_code == 3, bad.output);
  BOOST_TEST(contains(bad.output, "re-run nsl_dist embed"), bad.output);

  const auto no_ckpt = run_command(nsl_dist() + " embed --checkpoint " + w.dir / "nope" +
                                   " --out " + w.dir / "x.h5");
  BOOST_TEST(no_ckpt.exit_code == 3, no_ckpt.output);
  BOOST_TEST(!fs::exists(w.dir / "x.h5"));
}

BOOST_AUTO_TEST_CASE(embed_of_another_split_and_options) {
  const World& w = world();
  const std::string train = w.dir / "train.h5";
  must(nsl_dist() + " embed --checkpoint " + w.checkpoint() + " --data " + w.data +
       " --split train --batch-size 5 --out " + train);
  const nsl::EmbeddingFile f = nsl::read_embedding_file(train);
  BOOST_TEST(f.split == "train");
  BOOST_TEST(f.size() == 4 * kPerClass);
  BOOST_TEST(f.class_names.front() == "c0");
  const auto bad = run_command(nsl_dist() + " embed --checkpoint " + w.run +
                               " --split nosuch --out " + w.dir / "y.h5");
  BOOST_TEST(bad.exit_code == 3, bad.output);
  BOOST_TEST(contains(bad.output, "nosuch"), bad.output);
}

// Run by test_embed_query_mpi (label mpi): two ranks embed one shard each, rank 0 writes the same
// file a single process writes.
BOOST_AUTO_TEST_CASE(embed_under_mpirun_matches_one_process, *boost::unit_test::disabled()) {
  const World& w = world();
  const std::string two = w.dir / "two.h5";
  const auto r = must(mpirun(2) + nsl_dist() + " embed --checkpoint " + w.run + " --out " + two);
  BOOST_TEST(contains(r.output, "2 rank(s)"), r.output);
  const nsl::EmbeddingFile a = nsl::read_embedding_file(w.index);
  const nsl::EmbeddingFile b = nsl::read_embedding_file(two);
  BOOST_TEST(torch::allclose(a.embeddings, b.embeddings, 1e-5, 1e-6));
  BOOST_TEST(torch::equal(a.labels, b.labels));
  BOOST_TEST(torch::equal(a.indices, b.indices));
  BOOST_TEST(a.paths == b.paths);
}
