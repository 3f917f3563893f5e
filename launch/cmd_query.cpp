// nsl_dist query: image files through a checkpoint's network, searched in an embeddings file
// written by nsl_dist embed; prints the top-K gallery rows. Exact search by default (the
// evaluator's nearest_in_gallery), a FAISS index with --faiss.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/error.h"
#include "data/augment.h"
#include "data/embedding_file.h"
#include "data/prep/image_decode.h"
#include "data/shard_batch_source.h"
#include "eval/embed.h"
#include "eval/nearest.h"
#include "launch/checkpoint_model.h"
#include "launch/commands.h"
#include "launch/faiss_index.h"
#include "launch/threads.h"

namespace nsl {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The checkpoint must be the model that wrote the index: same config, same weights.
void check_same_model(const EmbeddingFile& f, const CheckpointModel& m, const std::string& index) {
  const std::string hash = m.info.value("config_hash", std::string());
  const std::string redo = ": re-run `nsl_dist embed --checkpoint " + m.dir.string() + " --out " +
                           index + "`, or query with --checkpoint " + f.checkpoint;
  if (hash != f.config_hash)
    throw DataError("index '" + index + "' was written by model config " + f.config_hash +
                    ", the checkpoint '" + m.dir.string() + "' has " + hash + redo);
  const std::string weights = m.info.value("weights_fnv1a64", std::string());
  if (!weights.empty() && !f.weights_fnv1a64.empty() && weights != f.weights_fnv1a64)
    throw DataError("index '" + index + "' was embedded with other weights (" + f.weights_fnv1a64 +
                    ", global step " + std::to_string(f.global_step) + ") than the checkpoint '" +
                    m.dir.string() + "' holds (" + weights + ", global step " +
                    std::to_string(m.info.value("global_step", int64_t{0})) + ")" + redo);
  if (m.net->dim() != f.dim() || m.in_channels != f.channels)
    throw DataError("index '" + index + "' holds " + std::to_string(f.dim()) + "-d embeddings of " +
                    std::to_string(f.channels) +
                    "-channel images, the checkpoint's network makes " +
                    std::to_string(m.net->dim()) + "-d embeddings of " +
                    std::to_string(m.in_channels) + "-channel images" + redo);
}

// An image file as given, else relative to the dataset's source root (a gallery path).
std::string locate_image(const std::string& image, const EmbeddingFile& f) {
  if (fs::exists(image) || f.source_root.empty()) return image;
  const fs::path under_root = fs::path(f.source_root) / image;
  return fs::exists(under_root) ? under_root.string() : image;
}

// The query images exactly as `nsl_dist prep` stored the gallery's (decode, INTER_AREA resize to
// S x S, RGB or gray), transformed like the evaluation batches (data.eval_resize_ratio), through
// the network.
torch::Tensor embed_query_images(EmbeddingNet& net, const std::vector<std::string>& files,
                                 const EmbeddingFile& f, double eval_resize_ratio) {
  const int64_t s = f.image_size, c = f.channels;
  torch::Tensor pixels = torch::empty({static_cast<int64_t>(files.size()), s, s, c}, torch::kUInt8);
  for (size_t i = 0; i < files.size(); ++i) {
    const std::vector<uint8_t> image = load_image(files[i], std::nullopt, s, c);
    std::copy(image.begin(), image.end(), pixels[static_cast<int64_t>(i)].data_ptr<uint8_t>());
  }
  net->eval();
  // With ratio 1 this is normalise_images(pixels) exactly (data/augment.h).
  const torch::Tensor images = eval_resize_center_crop(pixels, s, eval_resize_ratio);
  return embed_images(net, images).to(torch::kFloat32).cpu();
}

void print_neighbours(const EmbeddingFile& f, const Neighbours& n, int64_t q) {
  std::printf("rank\tscore\tindex\tlabel\tpath\n");
  const auto idx = n.indices[q];
  const auto score = n.scores[q];
  for (int64_t r = 0; r < idx.size(0); ++r) {
    const int64_t row = idx[r].item<int64_t>();
    if (row < 0) continue;  // an approximate index that found fewer than k
    std::printf("%lld\t%.6f\t%lld\t%s\t%s\n", static_cast<long long>(r + 1),
                static_cast<double>(score[r].item<float>()),
                static_cast<long long>(f.indices[row].item<int64_t>()),
                f.label_name(f.labels[row].item<int64_t>()).c_str(),
                f.paths[static_cast<size_t>(row)].c_str());
  }
}

// FAISS recall@k against exact search, gallery rows (evenly spaced) used as queries.
void print_recall(const EmbeddingFile& f, const FaissIndex& index, const std::string& factory,
                  int64_t k, int64_t wanted) {
  const int64_t n = f.size();
  const int64_t s = std::min(wanted, n);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < s; ++i) rows.push_back(i * n / s);
  const torch::Tensor queries = f.embeddings.index_select(0, torch::tensor(rows, torch::kInt64));
  auto t0 = Clock::now();
  const Neighbours exact = nearest_in_gallery(queries, f.embeddings, k);
  const double exact_ms = ms_since(t0);
  t0 = Clock::now();
  const Neighbours approx = index.search(queries, k);
  const double faiss_ms = ms_since(t0);
  int64_t found = 0;
  const auto e = exact.indices.accessor<int64_t, 2>();
  const auto a = approx.indices.accessor<int64_t, 2>();
  for (int64_t q = 0; q < s; ++q) {
    std::unordered_set<int64_t> truth;
    for (int64_t j = 0; j < k; ++j) truth.insert(e[q][j]);
    for (int64_t j = 0; j < k; ++j) found += truth.count(a[q][j]) ? 1 : 0;
  }
  std::printf(
      "# faiss recall@%lld %.4f (%s vs exact, %lld gallery rows as queries): exact %.2f ms, "
      "faiss %.2f ms\n",
      static_cast<long long>(k), static_cast<double>(found) / static_cast<double>(s * k),
      factory.c_str(), static_cast<long long>(s), exact_ms, faiss_ms);
}

}  // namespace

void add_query_command(CLI::App& app, QueryArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "query", "search image files in an embeddings file written by nsl_dist embed");
  cmd->add_option("--checkpoint", args.checkpoint,
                  "the checkpoint that wrote the index (folder, checkpoints/ or run folder)")
      ->required();
  cmd->add_option("--index", args.index, "embeddings file (.h5) written by nsl_dist embed")
      ->required();
  cmd->add_option("--image", args.images, "query image file (repeatable)");
  cmd->add_option("--k", args.k, "neighbours to print")->capture_default_str();
  cmd->add_option("--set", args.overrides, "override a key of the checkpoint's config")
      ->allow_extra_args(false);
  cmd->add_flag("--faiss", args.faiss, "search a FAISS index instead of exact search");
  cmd->add_option("--faiss-index", args.faiss_index,
                  "FAISS factory string, inner-product metric (Flat, IVF64,Flat, HNSW32, ...)")
      ->capture_default_str();
  cmd->add_option("--faiss-file", args.faiss_file,
                  "where the FAISS index is cached (default: the index file with .faiss); reused "
                  "when it was built from the same embeddings and factory, rebuilt otherwise");
  cmd->add_option("--faiss-params", args.faiss_params,
                  "FAISS search parameters, e.g. nprobe=16 or efSearch=128");
  cmd->add_flag("--faiss-recall", args.faiss_recall,
                "print FAISS recall@k against exact search over gallery rows used as queries "
                "(implies --faiss)");
  cmd->add_option("--recall-queries", args.recall_queries,
                  "gallery rows used as queries by --faiss-recall")
      ->capture_default_str();
}

int run_query(const QueryArgs& args) {
  if (args.k < 1) throw ConfigError("--k must be at least 1, got " + std::to_string(args.k));
  if (args.recall_queries < 1)
    throw ConfigError("--recall-queries must be at least 1, got " +
                      std::to_string(args.recall_queries));
  if (args.images.empty() && !args.faiss_recall)
    throw ConfigError("nothing to query: give --image FILE (or --faiss-recall)");
  const bool use_faiss = args.faiss || args.faiss_recall;

  const EmbeddingFile f = read_embedding_file(args.index);
  std::vector<std::string> notes;
  CheckpointModel m = load_checkpoint_model(args.checkpoint, args.overrides, torch::kCPU, &notes);
  check_same_model(f, m, args.index);
  apply_thread_settings(threads_per_rank(m.config.train.threads_per_rank, 1));

  for (const std::string& note : notes) std::printf("# %s\n", note.c_str());
  std::printf(
      "# index %s: %lld x %lld, split %s of dataset %s (%s), checkpoint %s (global step "
      "%lld, config hash %s)\n",
      args.index.c_str(), static_cast<long long>(f.size()), static_cast<long long>(f.dim()),
      f.split.c_str(), f.dataset.c_str(), f.dataset_path.c_str(), m.dir.string().c_str(),
      static_cast<long long>(f.global_step), f.config_hash.c_str());
  if (f.bbox_crop)
    std::printf(
        "# note: the gallery images were cropped to their bounding boxes; query images "
        "are used whole\n");
  const int64_t k = std::min(args.k, f.size());
  if (k < args.k)
    std::printf("# --k %lld lowered to the gallery size %lld\n", static_cast<long long>(args.k),
                static_cast<long long>(k));

  std::optional<FaissIndex> index;
  if (use_faiss) {
    const std::string file = args.faiss_file.empty()
                                 ? fs::path(args.index).replace_extension(".faiss").string()
                                 : args.faiss_file;
    const auto t0 = Clock::now();
    std::string note;
    index.emplace(open_or_build_faiss(file, f.embeddings,
                                      {f.size(), f.dim(), f.fingerprint, args.faiss_index}, &note));
    index->set_parameters(args.faiss_params);
    std::printf("# %s in %.1f ms\n", note.c_str(), ms_since(t0));
  }
  std::fflush(stdout);

  if (!args.images.empty()) {
    std::vector<std::string> files;
    for (const std::string& image : args.images) files.push_back(locate_image(image, f));
    auto t0 = Clock::now();
    const torch::Tensor queries =
        embed_query_images(m.net, files, f, m.config.data.eval_resize_ratio);
    const double embed_ms = ms_since(t0);
    t0 = Clock::now();
    const Neighbours found =
        index ? index->search(queries, k) : nearest_in_gallery(queries, f.embeddings, k);
    const double search_ms = ms_since(t0);
    const std::string search = index ? "faiss " + args.faiss_index : std::string("exact");
    for (size_t q = 0; q < files.size(); ++q) {
      std::printf(
          "# query %s: top %lld of %lld by %s search (embedded in %.1f ms, searched in "
          "%.1f ms)\n",
          files[q].c_str(), static_cast<long long>(k), static_cast<long long>(f.size()),
          search.c_str(), embed_ms, search_ms);
      print_neighbours(f, found, static_cast<int64_t>(q));
    }
  }
  if (args.faiss_recall) print_recall(f, *index, args.faiss_index, k, args.recall_queries);
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace nsl
