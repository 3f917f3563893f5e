// Shard format v1 checked with raw HDF5 C calls (independent of ShardReader/ShardWriter), checksums
// against hand-computed FNV-1a values, manifest round trip and errors, DatasetWriter atomicity.
#define BOOST_TEST_MODULE data_shards
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "common/error.h"
#include "data/checksum.h"
#include "data/dataset_info.h"
#include "data/dataset_writer.h"
#include "data/manifest.h"
#include "data/shard_reader.h"
#include "data/shard_writer.h"

#include "support/run_command.h"

namespace fs = std::filesystem;

namespace {

using TempDir = nsl::test::ScratchDir;

template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const nsl::DataError& e) {
    return e.what();
  }
  BOOST_FAIL("expected nsl::DataError");
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- raw HDF5 helpers (deliberately not using data/h5_handle.h) ---

std::string raw_string_attribute(hid_t file, const char* name) {
  hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
  BOOST_REQUIRE(attr >= 0);
  hid_t type = H5Aget_type(attr);
  BOOST_REQUIRE_EQUAL(H5Tget_class(type), H5T_STRING);
  std::string out;
  if (H5Tis_variable_str(type) > 0) {
    char* s = nullptr;
    BOOST_REQUIRE(H5Aread(attr, type, &s) >= 0);
    out = s;
    H5free_memory(s);
  } else {
    std::string buffer(H5Tget_size(type), '\0');
    BOOST_REQUIRE(H5Aread(attr, type, buffer.data()) >= 0);
    out = buffer.c_str();
  }
  H5Tclose(type);
  H5Aclose(attr);
  return out;
}

int64_t raw_int_attribute(hid_t file, const char* name) {
  hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
  BOOST_REQUIRE(attr >= 0);
  hid_t type = H5Aget_type(attr);
  BOOST_CHECK_EQUAL(H5Tget_class(type), H5T_INTEGER);
  int64_t v = 0;
  BOOST_REQUIRE(H5Aread(attr, H5T_NATIVE_INT64, &v) >= 0);
  H5Tclose(type);
  H5Aclose(attr);
  return v;
}

void raw_write_string_attribute(hid_t loc, const char* name, const std::string& value,
                                bool variable) {
  hid_t type = H5Tcopy(H5T_C_S1);
  hid_t space = H5Screate(H5S_SCALAR);
  if (variable) {
    H5Tset_size(type, H5T_VARIABLE);
    hid_t attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    const char* p = value.c_str();
    BOOST_REQUIRE(H5Awrite(attr, type, &p) >= 0);
    H5Aclose(attr);
  } else {
    H5Tset_size(type, value.size());
    hid_t attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    BOOST_REQUIRE(H5Awrite(attr, type, value.data()) >= 0);
    H5Aclose(attr);
  }
  H5Sclose(space);
  H5Tclose(type);
}

void raw_write_int_attribute(hid_t loc, const char* name, int value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(loc, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
  BOOST_REQUIRE(H5Awrite(attr, H5T_NATIVE_INT, &value) >= 0);
  H5Aclose(attr);
  H5Sclose(space);
}

struct RawShardOptions {
  bool write_format = true;
  std::string format = "nsl_dist.shard";
  bool write_labels = true;
  hsize_t n_labels = 3;
};

// A 3-sample shard, 2x2x1 pixels, written with raw calls; pixel value = 10*sample + position.
void write_raw_shard(const std::string& path, const RawShardOptions& o) {
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  BOOST_REQUIRE(file >= 0);
  const hsize_t n = 3;
  {
    const hsize_t dims[4] = {n, 2, 2, 1};
    std::vector<uint8_t> px(12);
    for (int i = 0; i < 12; ++i) px[i] = static_cast<uint8_t>(10 * (i / 4) + i % 4);
    hid_t space = H5Screate_simple(4, dims, nullptr);
    hid_t d =
        H5Dcreate2(file, "images", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, px.data());
    H5Dclose(d);
    H5Sclose(space);
  }
  if (o.write_labels) {
    std::vector<int64_t> labels = {4, 0, 2, 9};
    hid_t space = H5Screate_simple(1, &o.n_labels, nullptr);
    hid_t d =
        H5Dcreate2(file, "labels", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data());
    H5Dclose(d);
    H5Sclose(space);
  }
  {
    const char* paths[3] = {"x/0.jpg", "x/1.jpg", "x/caf\xc3\xa9.jpg"};
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t d = H5Dcreate2(file, "paths", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, paths);
    H5Dclose(d);
    H5Sclose(space);
    H5Tclose(type);
  }
  if (o.write_format) raw_write_string_attribute(file, "format", o.format, /*variable=*/true);
  raw_write_int_attribute(file, "version", 1);
  raw_write_string_attribute(file, "split", "test", /*variable=*/false);
  raw_write_int_attribute(file, "shard_index", 2);
  raw_write_int_attribute(file, "num_shards", 5);
  H5Fclose(file);
}

uint64_t naive_fnv1a64(const std::string& bytes) {
  uint64_t h = 14695981039346656037ULL;  // FNV offset basis
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;  // FNV 64-bit prime
  }
  return h;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> pixels(int64_t n, uint8_t base) {
  std::vector<uint8_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = static_cast<uint8_t>(base + i);
  return p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(shard_writer_output_read_with_raw_hdf5) {
  TempDir tmp;
  const std::string path = tmp / "train-00001.h5";
  const int64_t H = 2, W = 3, C = 2;
  {
    nsl::ShardWriter w(path, "train", 1, 4, H, W, C);
    for (int s = 0; s < 3; ++s) {
      auto px = pixels(H * W * C, static_cast<uint8_t>(100 * s));
      w.append(px.data(), s == 1 ? -3 : 7 * s, "dir/img_" + std::to_string(s) + "_\xc3\xbc.png");
    }
    BOOST_CHECK_EQUAL(w.count(), 3);
    w.close();
  }
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  BOOST_REQUIRE(file >= 0);
  BOOST_CHECK_EQUAL(raw_string_attribute(file, "format"), "nsl_dist.shard");
  BOOST_CHECK_EQUAL(raw_int_attribute(file, "version"), 1);
  BOOST_CHECK_EQUAL(raw_string_attribute(file, "split"), "train");
  BOOST_CHECK_EQUAL(raw_int_attribute(file, "shard_index"), 1);
  BOOST_CHECK_EQUAL(raw_int_attribute(file, "num_shards"), 4);

  hid_t images = H5Dopen2(file, "images", H5P_DEFAULT);
  BOOST_REQUIRE(images >= 0);
  hid_t type = H5Dget_type(images);
  BOOST_CHECK_EQUAL(H5Tget_class(type), H5T_INTEGER);
  BOOST_CHECK_EQUAL(H5Tget_size(type), 1u);
  BOOST_CHECK_EQUAL(H5Tget_sign(type), H5T_SGN_NONE);
  H5Tclose(type);
  hid_t space = H5Dget_space(images);
  hsize_t dims[4];
  BOOST_REQUIRE_EQUAL(H5Sget_simple_extent_ndims(space), 4);
  H5Sget_simple_extent_dims(space, dims, nullptr);
  BOOST_CHECK_EQUAL(dims[0], 3u);
  BOOST_CHECK_EQUAL(dims[1], 2u);
  BOOST_CHECK_EQUAL(dims[2], 3u);
  BOOST_CHECK_EQUAL(dims[3], 2u);
  H5Sclose(space);
  hid_t dcpl = H5Dget_create_plist(images);
  BOOST_CHECK_EQUAL(H5Pget_layout(dcpl), H5D_CHUNKED);
  hsize_t chunk[4];
  BOOST_REQUIRE_EQUAL(H5Pget_chunk(dcpl, 4, chunk), 4);
  BOOST_CHECK_EQUAL(chunk[0], 1u);
  BOOST_CHECK_EQUAL(chunk[1], 2u);
  BOOST_CHECK_EQUAL(chunk[2], 3u);
  BOOST_CHECK_EQUAL(chunk[3], 2u);
  BOOST_CHECK_EQUAL(H5Pget_nfilters(dcpl), 0);  // uncompressed
  H5Pclose(dcpl);
  std::vector<uint8_t> px(3 * 12);
  BOOST_REQUIRE(H5Dread(images, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, px.data()) >= 0);
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < 12; ++i) BOOST_CHECK_EQUAL(px[s * 12 + i], (100 * s + i) % 256);
  H5Dclose(images);

  hid_t labels = H5Dopen2(file, "labels", H5P_DEFAULT);
  BOOST_REQUIRE(labels >= 0);
  type = H5Dget_type(labels);
  BOOST_CHECK_EQUAL(H5Tget_class(type), H5T_INTEGER);
  BOOST_CHECK_EQUAL(H5Tget_size(type), 8u);
  H5Tclose(type);
  int64_t lab[3];
  BOOST_REQUIRE(H5Dread(labels, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
  BOOST_CHECK_EQUAL(lab[0], 0);
  BOOST_CHECK_EQUAL(lab[1], -3);
  BOOST_CHECK_EQUAL(lab[2], 14);
  H5Dclose(labels);

  hid_t paths = H5Dopen2(file, "paths", H5P_DEFAULT);
  BOOST_REQUIRE(paths >= 0);
  type = H5Dget_type(paths);
  BOOST_CHECK(H5Tis_variable_str(type) > 0);
  BOOST_CHECK_EQUAL(H5Tget_cset(type), H5T_CSET_UTF8);
  char* strs[3] = {nullptr, nullptr, nullptr};
  BOOST_REQUIRE(H5Dread(paths, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, strs) >= 0);
  for (int s = 0; s < 3; ++s) {
    BOOST_CHECK_EQUAL(std::string(strs[s]), "dir/img_" + std::to_string(s) + "_\xc3\xbc.png");
    H5free_memory(strs[s]);
  }
  H5Tclose(type);
  H5Dclose(paths);
  H5Fclose(file);

  // And the library's own reader agrees.
  const nsl::ShardContents c = nsl::read_shard(path);
  BOOST_CHECK_EQUAL(c.images.sizes(), torch::IntArrayRef({3, 2, 3, 2}));
  BOOST_CHECK_EQUAL(c.images[2][1][2][1].item<int>(), (200 + 11) % 256);
  BOOST_CHECK_EQUAL(c.labels[1].item<int64_t>(), -3);
  BOOST_CHECK_EQUAL(c.paths[2], "dir/img_2_\xc3\xbc.png");
}

BOOST_AUTO_TEST_CASE(raw_hdf5_shard_read_by_read_shard) {
  TempDir tmp;
  const std::string path = tmp / "raw.h5";
  write_raw_shard(path, {});
  const nsl::ShardContents c = nsl::read_shard(path);
  BOOST_CHECK_EQUAL(c.split, "test");
  BOOST_CHECK_EQUAL(c.shard_index, 2);
  BOOST_CHECK_EQUAL(c.num_shards, 5);
  BOOST_REQUIRE_EQUAL(c.images.sizes(), torch::IntArrayRef({3, 2, 2, 1}));
  BOOST_CHECK(c.images.dtype() == torch::kUInt8);
  BOOST_CHECK(c.labels.dtype() == torch::kInt64);
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < 4; ++i)
      BOOST_CHECK_EQUAL(c.images[s][i / 2][i % 2][0].item<int>(), 10 * s + i);
  BOOST_CHECK_EQUAL(c.labels[0].item<int64_t>(), 4);
  BOOST_CHECK_EQUAL(c.labels[1].item<int64_t>(), 0);
  BOOST_CHECK_EQUAL(c.labels[2].item<int64_t>(), 2);
  BOOST_REQUIRE_EQUAL(c.paths.size(), 3u);
  BOOST_CHECK_EQUAL(c.paths[0], "x/0.jpg");
  BOOST_CHECK_EQUAL(c.paths[2], "x/caf\xc3\xa9.jpg");
}

BOOST_AUTO_TEST_CASE(bad_shards_throw_data_error_naming_the_file) {
  TempDir tmp;
  // An HDF5 file that is not a shard.
  const std::string other = tmp / "other.h5";
  {
    hid_t file = H5Fcreate(other.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t n = 4;
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t d = H5Dcreate2(file, "x", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(space);
    H5Fclose(file);
  }
  std::string msg = error_message([&] { nsl::read_shard(other); });
  BOOST_TEST_MESSAGE(msg);
  BOOST_CHECK(contains(msg, other));
  BOOST_CHECK(contains(msg, "format"));

  const std::string wrong = tmp / "wrong_format.h5";
  RawShardOptions o;
  o.format = "something.else";
  write_raw_shard(wrong, o);
  msg = error_message([&] { nsl::read_shard(wrong); });
  BOOST_CHECK(contains(msg, wrong));
  BOOST_CHECK(contains(msg, "something.else"));

  const std::string no_labels = tmp / "no_labels.h5";
  o = {};
  o.write_labels = false;
  write_raw_shard(no_labels, o);
  msg = error_message([&] { nsl::read_shard(no_labels); });
  BOOST_CHECK(contains(msg, no_labels));
  BOOST_CHECK(contains(msg, "labels"));

  const std::string short_labels = tmp / "short_labels.h5";
  o = {};
  o.n_labels = 2;
  write_raw_shard(short_labels, o);
  msg = error_message([&] { nsl::read_shard(short_labels); });
  BOOST_CHECK(contains(msg, short_labels));
  BOOST_CHECK(contains(msg, "inconsistent"));

  const std::string text = tmp / "text.h5";
  write_file(text, "not hdf5 at all");
  msg = error_message([&] { nsl::read_shard(text); });
  BOOST_CHECK(contains(msg, text));

  const std::string missing = tmp / "missing.h5";
  msg = error_message([&] { nsl::read_shard(missing); });
  BOOST_CHECK(contains(msg, missing));
}

BOOST_AUTO_TEST_CASE(empty_shard_round_trip) {
  TempDir tmp;
  const std::string path = tmp / "empty.h5";
  nsl::ShardWriter w(path, "test", 0, 1, 4, 4, 3);
  w.close();
  const nsl::ShardContents c = nsl::read_shard(path);
  BOOST_CHECK_EQUAL(c.images.sizes(), torch::IntArrayRef({0, 4, 4, 3}));
  BOOST_CHECK_EQUAL(c.labels.numel(), 0);
  BOOST_CHECK(c.paths.empty());
}

// No caller takes a lock: ShardFile and ShardWriter take the HDF5 lock themselves. Four threads
// read two shards sample by sample (and one writes a third) at once; every image read equals the
// bytes written, compared with a single-threaded read of the same file.
BOOST_AUTO_TEST_CASE(shards_read_and_written_from_several_threads_without_a_lock) {
  TempDir tmp;
  const int64_t n = 40, h = 6, w = 5, c = 3, bytes = h * w * c;
  std::vector<std::string> paths;
  for (int s = 0; s < 2; ++s) {
    paths.push_back(tmp / ("t" + std::to_string(s) + ".h5"));
    nsl::ShardWriter writer(paths.back(), "train", s, 2, h, w, c);
    for (int64_t i = 0; i < n; ++i) {
      std::vector<uint8_t> px(static_cast<size_t>(bytes));
      for (int64_t b = 0; b < bytes; ++b) px[static_cast<size_t>(b)] = (7 * i + 3 * b + s) % 251;
      writer.append(px.data(), i % 4, "p" + std::to_string(i));
    }
    writer.close();
  }
  std::vector<torch::Tensor> want;
  for (const auto& path : paths) want.push_back(nsl::read_shard(path).images.reshape({n, bytes}));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      nsl::ShardFile file(paths[static_cast<size_t>(t % 2)]);
      std::vector<uint8_t> out(static_cast<size_t>(bytes));
      for (int round = 0; round < 20; ++round) {
        for (int64_t i = 0; i < n; ++i) {
          file.read_image(i, out.data());
          const auto* ref = want[static_cast<size_t>(t % 2)][i].data_ptr<uint8_t>();
          if (!std::equal(out.begin(), out.end(), ref)) ++mismatches;
        }
      }
    });
  }
  threads.emplace_back([&] {
    nsl::ShardWriter writer(tmp / "t2.h5", "train", 0, 1, h, w, c);
    std::vector<uint8_t> px(static_cast<size_t>(bytes), 9);
    for (int64_t i = 0; i < 200; ++i) writer.append(px.data(), 0, "q");
    writer.close();
  });
  for (auto& thread : threads) thread.join();
  BOOST_TEST(mismatches.load() == 0);
  BOOST_TEST(nsl::read_shard(tmp / "t2.h5").labels.numel() == 200);
}

BOOST_AUTO_TEST_CASE(fnv1a64_known_values) {
  // Hand computation for "a": (offset ^ 0x61) * prime mod 2^64.
  const uint64_t by_hand = (14695981039346656037ULL ^ 0x61ULL) * 1099511628211ULL;
  BOOST_CHECK_EQUAL(by_hand, 0xaf63dc4c8601ec8cULL);
  BOOST_CHECK_EQUAL(nsl::fnv1a64("a", 1), 0xaf63dc4c8601ec8cULL);
  BOOST_CHECK_EQUAL(nsl::fnv1a64("", 0), 0xcbf29ce484222325ULL);
  BOOST_CHECK_EQUAL(nsl::fnv1a64("foobar", 6), 0x85944171f73967e8ULL);  // published test vector
  BOOST_CHECK_EQUAL(nsl::hex64(0xaf63dc4c8601ec8cULL), "af63dc4c8601ec8c");
  BOOST_CHECK_EQUAL(nsl::hex64(0x1ULL), "0000000000000001");

  TempDir tmp;
  write_file(tmp / "a.bin", "a");
  BOOST_CHECK_EQUAL(nsl::file_checksum(tmp / "a.bin"), "af63dc4c8601ec8c");
  write_file(tmp / "empty.bin", "");
  BOOST_CHECK_EQUAL(nsl::file_checksum(tmp / "empty.bin"), "cbf29ce484222325");
  // Larger than the 1 MiB block: must equal a one-pass naive hash.
  std::string big(2 * (1 << 20) + 12345, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  write_file(tmp / "big.bin", big);
  BOOST_CHECK_EQUAL(nsl::file_checksum(tmp / "big.bin"), nsl::hex64(naive_fnv1a64(big)));
  BOOST_CHECK_THROW(nsl::file_checksum(tmp / "nope.bin"), nsl::DataError);
}

BOOST_AUTO_TEST_CASE(hdf5_version_string_matches_header) {
  const std::string v = nsl::hdf5_version_string();
  BOOST_CHECK_EQUAL(v, std::to_string(H5_VERS_MAJOR) + "." + std::to_string(H5_VERS_MINOR) + "." +
                           std::to_string(H5_VERS_RELEASE));
}

namespace {

nsl::Manifest sample_manifest() {
  nsl::Manifest m;
  m.name = "tiny";
  m.height = 4;
  m.width = 5;
  m.channels = 3;
  nsl::Manifest::Split s;
  s.num_classes = 2;
  s.num_images = 5;
  s.class_names = {"b", "a"};
  s.class_histogram = {3, 2};
  s.shards = {{"train-00000.h5", 3, "0123456789abcdef", 100},
              {"train-00001.h5", 2, "fedcba9876543210", -1}};
  m.splits["train"] = s;
  m.source = {{"converter", "test"}, {"n", 3}};
  return m;
}

}  // namespace

BOOST_AUTO_TEST_CASE(manifest_round_trip_and_errors) {
  TempDir tmp;
  const nsl::Manifest m = sample_manifest();
  nsl::write_manifest(tmp.path().string(), m);
  const nsl::Manifest r = nsl::read_manifest(tmp.path().string());
  BOOST_CHECK_EQUAL(nsl::manifest_to_json(r).dump(), nsl::manifest_to_json(m).dump());
  BOOST_CHECK_EQUAL(r.splits.at("train").shards[1].file, "train-00001.h5");
  BOOST_CHECK_EQUAL(r.splits.at("train").shards[0].bytes, 100);
  BOOST_CHECK_EQUAL(r.splits.at("train").shards[1].bytes, -1);
  BOOST_CHECK_EQUAL(r.source["n"].get<int>(), 3);

  const std::string file = (tmp.path() / "manifest.json").string();
  // Missing key: the message names the file and the key path.
  nlohmann::json j = nsl::manifest_to_json(m);
  j["splits"]["train"]["shards"][1].erase("checksum");
  write_file(file, j.dump());
  std::string msg = error_message([&] { nsl::read_manifest(tmp.path().string()); });
  BOOST_TEST_MESSAGE(msg);
  BOOST_CHECK(contains(msg, file));
  BOOST_CHECK(contains(msg, "splits.train.shards[1].checksum"));

  j = nsl::manifest_to_json(m);
  j["height"] = "four";
  write_file(file, j.dump());
  msg = error_message([&] { nsl::read_manifest(tmp.path().string()); });
  BOOST_CHECK(contains(msg, "height"));

  j = nsl::manifest_to_json(m);
  j["splits"]["train"]["class_histogram"] = {3, 3};
  write_file(file, j.dump());
  msg = error_message([&] { nsl::read_manifest(tmp.path().string()); });
  BOOST_CHECK(contains(msg, "num_images"));

  j = nsl::manifest_to_json(m);
  j["splits"]["train"]["shards"][0]["file"] = "../escape.h5";
  write_file(file, j.dump());
  msg = error_message([&] { nsl::read_manifest(tmp.path().string()); });
  BOOST_CHECK(contains(msg, "splits.train.shards[0].file"));

  write_file(file, "{ not json");
  msg = error_message([&] { nsl::read_manifest(tmp.path().string()); });
  BOOST_CHECK(contains(msg, file));

  fs::remove(file);
  msg = error_message([&] { nsl::read_manifest(tmp.path().string()); });
  BOOST_CHECK(contains(msg, file));
}

BOOST_AUTO_TEST_CASE(dataset_writer_without_finalize_leaves_nothing) {
  TempDir tmp;
  const std::string out = tmp / "ds";
  std::string temp;
  {
    nsl::DatasetWriter w(out, "x", 2, 2, 1, 3);
    temp = w.temp_dir();
    BOOST_CHECK(fs::exists(temp));
    auto px = pixels(4, 0);
    for (int i = 0; i < 5; ++i) w.add("train", "c" + std::to_string(i % 2), px.data(), "p");
  }
  BOOST_CHECK(!fs::exists(out));
  BOOST_CHECK(!fs::exists(temp));
  BOOST_CHECK(fs::is_empty(tmp.path()));
}

BOOST_AUTO_TEST_CASE(dataset_writer_ids_round_robin_and_atomic_replace) {
  TempDir tmp;
  const std::string out = tmp / "ds";
  fs::create_directories(out);
  write_file(out + "/stale.txt", "old dataset");

  const std::vector<std::string> classes = {"zeta",  "alpha", "zeta", "mid",
                                            "alpha", "zeta",  "zeta"};
  nsl::DatasetWriter w(out + "/", "toy", 2, 3, 1, 3);  // trailing slash on purpose
  for (size_t i = 0; i < classes.size(); ++i) {
    auto px = pixels(6, static_cast<uint8_t>(10 * i));
    w.add("train", classes[i], px.data(), "train/" + std::to_string(i));
  }
  for (int i = 0; i < 2; ++i) {
    auto px = pixels(6, static_cast<uint8_t>(200 + i));
    w.add("test", i == 0 ? "q" : "r", px.data(), "test/" + std::to_string(i));
  }
  BOOST_CHECK(fs::exists(out + "/stale.txt"));  // nothing replaced before finalize
  const nsl::Manifest m = w.finalize();
  BOOST_CHECK(!fs::exists(out + "/stale.txt"));
  BOOST_CHECK(fs::exists(out + "/manifest.json"));
  for (const auto& entry : fs::directory_iterator(tmp.path()))  // no .tmp-/.old- siblings left
    BOOST_CHECK_EQUAL(entry.path().filename().string(), "ds");

  const nsl::Manifest r = nsl::read_manifest(out);
  BOOST_CHECK_EQUAL(nsl::manifest_to_json(r).dump(), nsl::manifest_to_json(m).dump());
  const auto& train = r.splits.at("train");
  BOOST_CHECK_EQUAL(train.num_classes, 3);
  BOOST_CHECK_EQUAL(train.num_images, 7);
  BOOST_CHECK((train.class_names == std::vector<std::string>{"zeta", "alpha", "mid"}));
  BOOST_CHECK((train.class_histogram == std::vector<int64_t>{4, 2, 1}));
  BOOST_REQUIRE_EQUAL(train.shards.size(), 3u);
  BOOST_CHECK_EQUAL(train.shards[0].file, "train-00000.h5");
  BOOST_CHECK_EQUAL(train.shards[0].count, 3);
  BOOST_CHECK_EQUAL(train.shards[1].count, 2);
  BOOST_CHECK_EQUAL(train.shards[2].count, 2);
  const auto& test = r.splits.at("test");
  BOOST_CHECK_EQUAL(test.num_classes, 2);
  BOOST_CHECK_EQUAL(test.shards[2].count, 0);
  BOOST_CHECK_EQUAL(r.height, 2);
  BOOST_CHECK_EQUAL(r.width, 3);

  // Sample i went to shard i % 3 at position i / 3 with the first-appearance class id.
  const std::map<std::string, int64_t> ids = {{"zeta", 0}, {"alpha", 1}, {"mid", 2}};
  for (size_t i = 0; i < classes.size(); ++i) {
    const nsl::ShardContents c = nsl::read_shard(out + "/" + train.shards[i % 3].file);
    BOOST_CHECK_EQUAL(c.split, "train");
    BOOST_CHECK_EQUAL(c.shard_index, static_cast<int64_t>(i % 3));
    BOOST_CHECK_EQUAL(c.num_shards, 3);
    const auto pos = static_cast<int64_t>(i / 3);
    BOOST_CHECK_EQUAL(c.labels[pos].item<int64_t>(), ids.at(classes[i]));
    BOOST_CHECK_EQUAL(c.paths[pos], "train/" + std::to_string(i));
    BOOST_CHECK_EQUAL(c.images[pos][0][0][0].item<int>(), static_cast<int>(10 * i));
    BOOST_CHECK_EQUAL(c.images[pos][1][2][0].item<int>(), static_cast<int>(10 * i + 5));
  }
  nsl::verify_dataset(out, r);
}

BOOST_AUTO_TEST_CASE(verify_dataset_detects_corruption_and_missing_shards) {
  TempDir tmp;
  const std::string out = tmp / "ds";
  {
    nsl::DatasetWriter w(out, "toy", 4, 4, 1, 2);
    for (int i = 0; i < 6; ++i) {
      auto px = pixels(16, static_cast<uint8_t>(i));
      w.add("train", "c" + std::to_string(i % 3), px.data(), "p" + std::to_string(i));
    }
    w.finalize();
  }
  const nsl::Manifest m = nsl::read_manifest(out);
  BOOST_CHECK_NO_THROW(nsl::verify_dataset(out, m));

  // Flip one byte in the middle of shard 1 (same size, different content).
  const std::string shard = out + "/train-00001.h5";
  std::string bytes;
  {
    std::ifstream in(shard, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string good = bytes;
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
  write_file(shard, bytes);
  std::string msg = error_message([&] { nsl::verify_dataset(out, m); });
  BOOST_TEST_MESSAGE(msg);
  BOOST_CHECK(contains(msg, "train-00001.h5"));
  BOOST_CHECK(contains(msg, "converter"));

  // Truncated.
  write_file(shard, good.substr(0, good.size() - 10));
  msg = error_message([&] { nsl::verify_dataset(out, m); });
  BOOST_CHECK(contains(msg, "train-00001.h5"));

  write_file(shard, good);
  BOOST_CHECK_NO_THROW(nsl::verify_dataset(out, m));
  fs::remove(out + "/train-00000.h5");
  msg = error_message([&] { nsl::verify_dataset(out, m); });
  BOOST_CHECK(contains(msg, "train-00000.h5"));
  BOOST_CHECK(contains(msg, "missing"));
}
