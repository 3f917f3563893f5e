// nsl_dist prep converters on fixture trees in the official layouts: splits, class order and ids,
// pixels against the written images, byte-identical output for any worker count, and every kind
// of bad input (message text, nothing left behind).
#define BOOST_TEST_MODULE data_prep_datasets
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <matio.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/error.h"
#include "data/manifest.h"
#include "data/prep/mat_file.h"
#include "data/prep/prep_runner.h"
#include "data/shard_reader.h"

#include "support/run_command.h"

namespace fs = std::filesystem;

namespace {

using TempDir = nsl::test::ScratchDir;
constexpr int kSize = 16;

// A deterministic noise image (BGR, as OpenCV holds it).
cv::Mat pattern(int rows, int cols, int seed) {
  cv::Mat m(rows, cols, CV_8UC3);
  uint32_t state = 2654435761u * static_cast<uint32_t>(seed + 1);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      for (int ch = 0; ch < 3; ++ch) {
        state = state * 1664525u + 1013904223u;
        m.at<cv::Vec3b>(r, c)[ch] = static_cast<uint8_t>(state >> 24);
      }
  return m;
}

void write_image(const std::string& path, const cv::Mat& image) {
  fs::create_directories(fs::path(path).parent_path());
  if (!cv::imwrite(path, image)) throw std::runtime_error("imwrite failed: " + path);
}

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

// H, W, C bytes in RGB order, written out pixel by pixel (not with cvtColor).
std::vector<uint8_t> rgb_bytes(const cv::Mat& bgr) {
  std::vector<uint8_t> out;
  for (int r = 0; r < bgr.rows; ++r)
    for (int c = 0; c < bgr.cols; ++c) {
      const cv::Vec3b p = bgr.at<cv::Vec3b>(r, c);
      out.insert(out.end(), {p[2], p[1], p[0]});
    }
  return out;
}

// The documented pipeline, from the file: decode, crop, resize with INTER_AREA, RGB.
std::vector<uint8_t> reference_rgb(const std::string& file, cv::Rect crop = {}) {
  cv::Mat image = cv::imread(file, cv::IMREAD_COLOR);
  if (crop.area() > 0) image = image(crop).clone();
  cv::Mat resized;
  cv::resize(image, resized, cv::Size(kSize, kSize), 0, 0, cv::INTER_AREA);
  return rgb_bytes(resized);
}

struct Sample {
  int64_t label = -1;
  std::vector<uint8_t> pixels;
};

// sample path -> (label, pixels) of every shard of a split.
std::map<std::string, Sample> read_split(const std::string& dir, const std::string& split) {
  const nsl::Manifest m = nsl::read_manifest(dir);
  std::map<std::string, Sample> out;
  for (const auto& shard : nsl::manifest_split(m, split, dir).shards) {
    const nsl::ShardContents c = nsl::read_shard((fs::path(dir) / shard.file).string());
    const int64_t per_image = c.images[0].numel();
    const uint8_t* data = c.images.contiguous().data_ptr<uint8_t>();
    for (size_t i = 0; i < c.paths.size(); ++i) {
      Sample s;
      s.label = c.labels[static_cast<int64_t>(i)].item<int64_t>();
      const uint8_t* p = data + static_cast<int64_t>(i) * per_image;
      s.pixels.assign(p, p + per_image);
      out.emplace(c.paths[i], std::move(s));
    }
  }
  return out;
}

nsl::PrepOptions options(const std::string& dataset, const std::string& root,
                         const std::string& out) {
  nsl::PrepOptions o;
  o.dataset = dataset;
  o.root = root;
  o.out = out;
  o.shards = 2;
  o.image_size = kSize;
  o.channels = 3;
  o.workers = 2;
  o.progress = false;
  return o;
}

// The output folder and its temporary siblings ("<out>.tmp-<pid>") that exist.
std::vector<std::string> leftovers(const std::string& out) {
  std::vector<std::string> names;
  const fs::path parent = fs::path(out).parent_path();
  const std::string prefix = fs::path(out).filename().string();
  for (const auto& e : fs::directory_iterator(parent))
    if (e.path().filename().string().rfind(prefix, 0) == 0)
      names.push_back(e.path().filename().string());
  return names;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the conversion into dir/failed_out expecting E whose message contains every part; then
// checks that neither the output folder nor its temporary folder is left.
template <class E>
void expect_failure(nsl::PrepOptions o, const TempDir& dir, const std::vector<std::string>& parts) {
  o.out = dir / "failed_out";
  bool thrown = false;
  try {
    nsl::prep_dataset(o);
  } catch (const E& e) {
    thrown = true;
    const std::string what = e.what();
    for (const auto& part : parts)
      BOOST_CHECK_MESSAGE(what.find(part) != std::string::npos, "'" + part + "' not in: " + what);
  }
  BOOST_CHECK_MESSAGE(thrown, "expected exception not thrown");
  BOOST_CHECK_MESSAGE(leftovers(o.out).empty(), "output left behind");
}

// ---- CUB-200-2011 ----------------------------------------------------------------------------

struct CubImage {
  int id;
  int cls;
};
// Two images per class, interleaved so that file order is not class order.
const std::vector<CubImage> kCubImages = {{1, 101}, {2, 1},    {3, 200},  {4, 2},
                                          {5, 100}, {6, 150},  {7, 1},    {8, 101},
                                          {9, 2},   {10, 200}, {11, 150}, {12, 100}};
const cv::Rect kBox(5, 7, kSize, kSize);  // x, y, w, h inside the 30 x 40 images

std::string cub_name(int cls) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%03d.Bird_%d", cls, cls);
  return buf;
}
std::string cub_rel(const CubImage& im) {
  return cub_name(im.cls) + "/img_" + std::to_string(im.id) + ".png";
}

void make_cub(const std::string& root) {
  std::string images, labels, classes, boxes, split;
  for (int c = 1; c <= 200; ++c) classes += std::to_string(c) + " " + cub_name(c) + "\n";
  for (const auto& im : kCubImages) {
    images += std::to_string(im.id) + " " + cub_rel(im) + "\n";
    labels += std::to_string(im.id) + " " + std::to_string(im.cls) + "\n";
    boxes += std::to_string(im.id) + " 5.0 7.0 16.0 16.0\n";
    split += std::to_string(im.id) + " 1\n";  // all "train": must be ignored
    write_image(root + "/images/" + cub_rel(im), pattern(30, 40, im.id));
  }
  write_text(root + "/images.txt", images);
  write_text(root + "/image_class_labels.txt", labels);
  write_text(root + "/classes.txt", classes);
  write_text(root + "/bounding_boxes.txt", boxes);
  write_text(root + "/train_test_split.txt", split);
}

}  // namespace

BOOST_AUTO_TEST_CASE(cub200_splits_class_order_and_pixels) {
  TempDir tmp;
  make_cub(tmp / "CUB");
  const std::string out = tmp / "out";
  const nsl::PrepResult r = nsl::prep_dataset(options("cub200", tmp / "CUB", out));
  const auto& train = r.manifest.splits.at("train");
  const auto& test = r.manifest.splits.at("test");
  BOOST_TEST(
      train.class_names == (std::vector<std::string>{cub_name(1), cub_name(2), cub_name(100)}),
      boost::test_tools::per_element());
  BOOST_TEST(
      test.class_names == (std::vector<std::string>{cub_name(101), cub_name(150), cub_name(200)}),
      boost::test_tools::per_element());
  BOOST_TEST(train.class_histogram == (std::vector<int64_t>{2, 2, 2}),
             boost::test_tools::per_element());
  BOOST_CHECK_EQUAL(train.num_images, 6);
  BOOST_CHECK_EQUAL(test.num_images, 6);
  BOOST_CHECK_EQUAL(r.manifest.height, kSize);
  BOOST_CHECK_EQUAL(r.manifest.channels, 3);
  BOOST_CHECK_EQUAL(r.manifest.source.at("dataset"), "cub200");
  BOOST_CHECK_EQUAL(r.manifest.source.at("bbox_crop"), false);
  BOOST_CHECK(r.manifest.source.at("skipped").empty());

  const std::map<int, int64_t> label_of = {{1, 0}, {2, 1}, {100, 2}, {101, 0}, {150, 1}, {200, 2}};
  auto samples = read_split(out, "train");
  auto test_samples = read_split(out, "test");
  samples.insert(test_samples.begin(), test_samples.end());
  BOOST_REQUIRE_EQUAL(samples.size(), kCubImages.size());
  for (const auto& im : kCubImages) {
    const auto& s = samples.at("images/" + cub_rel(im));
    BOOST_CHECK_EQUAL(s.label, label_of.at(im.cls));
    BOOST_CHECK(s.pixels == reference_rgb(tmp / ("CUB/images/" + cub_rel(im))));
  }
}

BOOST_AUTO_TEST_CASE(cub200_bbox_crop_keeps_exactly_the_box) {
  TempDir tmp;
  make_cub(tmp / "CUB");
  auto o = options("cub200", tmp / "CUB", tmp / "out");
  o.bbox_crop = true;
  const nsl::PrepResult r = nsl::prep_dataset(o);
  BOOST_CHECK_EQUAL(r.manifest.source.at("bbox_crop"), true);
  const auto samples = read_split(tmp / "out", "train");
  for (const auto& im : kCubImages) {
    if (im.cls > 100) continue;
    // The box is kSize x kSize: cropping then resizing to kSize must give the box's pixels.
    const cv::Mat expected = pattern(30, 40, im.id)(kBox);
    BOOST_CHECK(samples.at("images/" + cub_rel(im)).pixels == rgb_bytes(expected));
  }
}

BOOST_AUTO_TEST_CASE(cub200_bad_annotations) {
  TempDir tmp;
  const std::string root = tmp / "CUB";
  const auto o = options("cub200", root, tmp / "out");

  make_cub(root);
  fs::remove(root + "/image_class_labels.txt");
  expect_failure<nsl::DataError>(o, tmp, {"missing annotation file", "image_class_labels.txt"});

  make_cub(root);
  write_text(root + "/images.txt", "1 a/1.png\n2 a/2.png\n3\n");
  expect_failure<nsl::DataError>(o, tmp, {"images.txt:3: expected '<id> <path>'"});

  make_cub(root);
  write_text(root + "/images.txt", "1 a/1.png\nx a/2.png\n");
  expect_failure<nsl::DataError>(o, tmp, {"images.txt:2: expected '<id> <path>'"});

  make_cub(root);
  write_text(root + "/image_class_labels.txt", "1 101\n2 201\n");
  expect_failure<nsl::DataError>(o, tmp,
                                 {"image_class_labels.txt:2: class id 201 out of range 1..200"});

  make_cub(root);
  write_text(root + "/image_class_labels.txt", "1 101\n2 1\n");  // ids 3..12 have no class
  expect_failure<nsl::DataError>(o, tmp, {"images.txt: image id 3", "has no class in"});

  make_cub(root);
  auto with_boxes = o;
  with_boxes.bbox_crop = true;
  write_text(root + "/bounding_boxes.txt", "1 5.0 7.0 16.0\n");
  expect_failure<nsl::DataError>(with_boxes, tmp, {"bounding_boxes.txt:1: expected"});
  fs::remove(root + "/bounding_boxes.txt");
  expect_failure<nsl::DataError>(with_boxes, tmp, {"missing annotation file", "bounding_boxes"});
}

BOOST_AUTO_TEST_CASE(corrupt_and_truncated_images_fail_or_are_skipped) {
  TempDir tmp;
  const std::string root = tmp / "CUB";
  make_cub(root);
  auto o = options("cub200", root, tmp / "out");

  // A PNG cut in half (class 2, split train).
  const std::string png = root + "/images/" + cub_rel(kCubImages[3]);
  const std::string png_bytes = file_bytes(png);
  std::ofstream(png, std::ios::binary) << png_bytes.substr(0, png_bytes.size() / 2);
  expect_failure<nsl::DataError>(o, tmp, {"bad image '" + png + "'", "truncated PNG"});

  // A JPEG cut inside its scan (class 150, split test): libjpeg decodes it with gray filler, so
  // the truncation check, not the decoder, must catch it.
  const std::string jpg = tmp / "full.jpg";
  write_image(jpg, pattern(30, 40, 99));
  const std::string jpg_bytes = file_bytes(jpg);
  const std::string cut = root + "/images/" + cub_rel(kCubImages[5]);
  std::ofstream(cut, std::ios::binary) << jpg_bytes.substr(0, jpg_bytes.size() * 2 / 3);
  BOOST_CHECK(!cv::imread(cut, cv::IMREAD_COLOR).empty());  // OpenCV alone accepts it
  // Split "test" is written first (splits in name order), so its image fails first.
  expect_failure<nsl::DataError>(o, tmp, {"bad image '" + cut + "'", "truncated JPEG"});

  o.skip_bad_images = true;
  const nsl::PrepResult r = nsl::prep_dataset(o);
  BOOST_REQUIRE_EQUAL(r.skipped.size(), 2u);
  BOOST_CHECK_EQUAL(r.skipped[0], cut);
  BOOST_CHECK_EQUAL(r.skipped[1], png);
  const auto& skipped = r.manifest.source.at("skipped");
  BOOST_REQUIRE_EQUAL(skipped.size(), 2u);
  BOOST_CHECK_EQUAL(skipped[0], "images/" + cub_rel(kCubImages[5]));
  BOOST_CHECK_EQUAL(skipped[1], "images/" + cub_rel(kCubImages[3]));
  BOOST_CHECK_EQUAL(r.manifest.splits.at("train").num_images, 5);
  BOOST_CHECK_EQUAL(r.manifest.splits.at("test").num_images, 5);
  BOOST_TEST(r.manifest.splits.at("train").class_histogram == (std::vector<int64_t>{2, 1, 2}),
             boost::test_tools::per_element());
  BOOST_TEST(r.manifest.splits.at("test").class_histogram == (std::vector<int64_t>{2, 1, 2}),
             boost::test_tools::per_element());
}

// ---- CARS196 ---------------------------------------------------------------------------------

namespace {

struct CarImage {
  std::string rel;
  int cls;
};
const std::vector<CarImage> kCars = {{"car_ims/000001.png", 99},  {"car_ims/000002.png", 1},
                                     {"car_ims/000003.png", 196}, {"car_ims/000004.png", 98},
                                     {"car_ims/000005.png", 3},   {"car_ims/000006.png", 99}};

std::string car_name(int cls) { return "Make Model " + std::to_string(cls); }

void set_field(matvar_t* annotations, const char* name, size_t index, matvar_t* value) {
  Mat_VarFree(Mat_VarSetStructFieldByName(annotations, name, index, value));
}
matvar_t* mat_double(double v) {
  size_t dims[2] = {1, 1};
  return Mat_VarCreate(nullptr, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, &v, 0);
}
matvar_t* mat_uint8(uint8_t v) {
  size_t dims[2] = {1, 1};
  return Mat_VarCreate(nullptr, MAT_C_UINT8, MAT_T_UINT8, 2, dims, &v, 0);
}
matvar_t* mat_text(std::string s) {
  size_t dims[2] = {1, s.size()};
  return Mat_VarCreate(nullptr, MAT_C_CHAR, MAT_T_UTF8, 2, dims, &s[0], 0);
}

// cars_annos.mat as the dataset ships it: struct array `annotations` and cell array `class_names`.
void make_cars(const std::string& root, const std::vector<CarImage>& cars, bool class_names) {
  fs::create_directories(root);
  nsl::MatFile mat(Mat_CreateVer((root + "/cars_annos.mat").c_str(), nullptr, MAT_FT_MAT5));
  BOOST_REQUIRE(mat);
  const char* fields[] = {"relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2",
                          "bbox_y2",          "class",   "test"};
  size_t dims[2] = {1, cars.size()};
  nsl::MatVar annotations(Mat_VarCreateStruct("annotations", 2, dims, fields, 7));
  for (size_t i = 0; i < cars.size(); ++i) {
    // Box: 1-based inclusive corners (6, 8)-(21, 23) = 0-based x 5..20, y 7..22.
    set_field(annotations.get(), "relative_im_path", i, mat_text(cars[i].rel));
    set_field(annotations.get(), "bbox_x1", i, mat_double(6));
    set_field(annotations.get(), "bbox_y1", i, mat_double(8));
    set_field(annotations.get(), "bbox_x2", i, mat_double(21));
    set_field(annotations.get(), "bbox_y2", i, mat_double(23));
    set_field(annotations.get(), "class", i, mat_uint8(static_cast<uint8_t>(cars[i].cls)));
    set_field(annotations.get(), "test", i, mat_uint8(static_cast<uint8_t>(i % 2)));
    write_image(root + "/" + cars[i].rel, pattern(30, 40, 50 + static_cast<int>(i)));
  }
  BOOST_REQUIRE_EQUAL(Mat_VarWrite(mat.get(), annotations.get(), MAT_COMPRESSION_NONE), 0);
  if (!class_names) return;
  size_t name_dims[2] = {1, 196};
  nsl::MatVar names(Mat_VarCreate("class_names", MAT_C_CELL, MAT_T_CELL, 2, name_dims, nullptr, 0));
  for (int c = 1; c <= 196; ++c) Mat_VarSetCell(names.get(), c - 1, mat_text(car_name(c)));
  BOOST_REQUIRE_EQUAL(Mat_VarWrite(mat.get(), names.get(), MAT_COMPRESSION_ZLIB), 0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(cars196_splits_names_labels_and_boxes) {
  TempDir tmp;
  make_cars(tmp / "cars", kCars, true);
  auto o = options("cars196", tmp / "cars", tmp / "out");
  o.bbox_crop = true;
  const nsl::PrepResult r = nsl::prep_dataset(o);
  const auto& train = r.manifest.splits.at("train");
  const auto& test = r.manifest.splits.at("test");
  BOOST_TEST(
      train.class_names == (std::vector<std::string>{car_name(1), car_name(3), car_name(98)}),
      boost::test_tools::per_element());
  BOOST_TEST(test.class_names == (std::vector<std::string>{car_name(99), car_name(196)}),
             boost::test_tools::per_element());
  BOOST_TEST(test.class_histogram == (std::vector<int64_t>{2, 1}),
             boost::test_tools::per_element());
  auto samples = read_split(tmp / "out", "train");
  auto test_samples = read_split(tmp / "out", "test");
  samples.insert(test_samples.begin(), test_samples.end());
  const std::map<int, int64_t> label_of = {{1, 0}, {3, 1}, {98, 2}, {99, 0}, {196, 1}};
  for (size_t i = 0; i < kCars.size(); ++i) {
    const auto& s = samples.at(kCars[i].rel);
    BOOST_CHECK_EQUAL(s.label, label_of.at(kCars[i].cls));
    const cv::Mat expected = pattern(30, 40, 50 + static_cast<int>(i))(kBox);
    BOOST_CHECK(s.pixels == rgb_bytes(expected));
  }

  // Without class_names the class number is the name; without --bbox-crop the whole image.
  TempDir tmp2;
  make_cars(tmp2 / "cars", kCars, false);
  const nsl::PrepResult r2 = nsl::prep_dataset(options("cars196", tmp2 / "cars", tmp2 / "out"));
  BOOST_TEST(
      r2.manifest.splits.at("train").class_names == (std::vector<std::string>{"1", "3", "98"}),
      boost::test_tools::per_element());
  const auto whole = read_split(tmp2 / "out", "test");
  BOOST_CHECK(whole.at(kCars[0].rel).pixels == reference_rgb(tmp2 / ("cars/" + kCars[0].rel)));
}

BOOST_AUTO_TEST_CASE(cars196_bad_annotations) {
  TempDir tmp;
  const auto o = options("cars196", tmp / "cars", tmp / "out");
  fs::create_directories(tmp / "cars");
  expect_failure<nsl::DataError>(o, tmp, {"missing annotation file", "cars_annos.mat"});

  auto bad = kCars;
  bad[2].cls = 197;
  make_cars(tmp / "cars", bad, false);
  expect_failure<nsl::DataError>(o, tmp,
                                 {"cars_annos.mat: annotations(3).class = 197 out of range"});

  write_text(tmp / "cars/cars_annos.mat", "not a MAT-file at all, but long enough to be read");
  expect_failure<nsl::DataError>(o, tmp, {"cars_annos.mat"});
}

// ---- SOP, In-Shop ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(sop_numeric_class_order) {
  TempDir tmp;
  const std::string root = tmp / "SOP";
  write_text(root + "/Ebay_train.txt",
             "image_id class_id super_class_id path\n1 9 1 bike/9_a.png\n2 10 1 bike/10_a.png\n"
             "3 2 2 cup/2_a.png\n4 9 1 bike/9_b.png\n");
  write_text(root + "/Ebay_test.txt",
             "image_id class_id super_class_id path\n5 12 3 sofa/12_a.png\n6 11 3 sofa/11_a.png\n");
  const std::vector<std::string> paths = {"bike/9_a.png", "bike/10_a.png", "cup/2_a.png",
                                          "bike/9_b.png", "sofa/12_a.png", "sofa/11_a.png"};
  for (size_t i = 0; i < paths.size(); ++i)
    write_image(root + "/" + paths[i], pattern(kSize, kSize, static_cast<int>(i)));
  const nsl::PrepResult r = nsl::prep_dataset(options("sop", root, tmp / "out"));
  BOOST_TEST(
      r.manifest.splits.at("train").class_names == (std::vector<std::string>{"2", "9", "10"}),
      boost::test_tools::per_element());
  BOOST_TEST(r.manifest.splits.at("test").class_names == (std::vector<std::string>{"11", "12"}),
             boost::test_tools::per_element());
  const auto train = read_split(tmp / "out", "train");
  BOOST_CHECK_EQUAL(train.at("bike/10_a.png").label, 2);
  BOOST_CHECK_EQUAL(train.at("bike/9_b.png").label, 1);
  // kSize x kSize sources: resizing is the identity, the pixels are the written ones.
  BOOST_CHECK(train.at("cup/2_a.png").pixels == rgb_bytes(pattern(kSize, kSize, 2)));

  write_text(root + "/Ebay_test.txt", "image_id class super_class_id path\n");
  expect_failure<nsl::DataError>(options("sop", root, tmp / "out"), tmp,
                                 {"Ebay_test.txt:1: expected the header"});
  write_text(root + "/Ebay_test.txt", "image_id class_id super_class_id path\n5 0 3 x.png\n");
  expect_failure<nsl::DataError>(options("sop", root, tmp / "out"), tmp,
                                 {"Ebay_test.txt:2: class id 0 out of range"});
}

BOOST_AUTO_TEST_CASE(inshop_query_and_gallery_share_class_ids) {
  TempDir tmp;
  const std::string root = tmp / "inshop";
  const std::vector<std::array<std::string, 3>> rows = {
      {"img/a/1.png", "id_00000005", "train"},   {"img/a/2.png", "id_00000002", "train"},
      {"img/b/1.png", "id_00000009", "query"},   {"img/b/2.png", "id_00000003", "query"},
      {"img/c/1.png", "id_00000003", "gallery"}, {"img/c/2.png", "id_00000009", "gallery"},
      {"img/c/3.png", "id_00000003", "gallery"}};
  std::string list = std::to_string(rows.size()) + "\nimage_name item_id evaluation_status\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    list += rows[i][0] + "    " + rows[i][1] + "   " + rows[i][2] + "\n";
    write_image(root + "/" + rows[i][0], pattern(kSize, kSize, static_cast<int>(i)));
  }
  write_text(root + "/list_eval_partition.txt", list);
  const nsl::PrepResult r = nsl::prep_dataset(options("inshop", root, tmp / "out"));
  const std::vector<std::string> shared = {"id_00000003", "id_00000009"};
  BOOST_TEST(r.manifest.splits.at("query").class_names == shared, boost::test_tools::per_element());
  BOOST_TEST(r.manifest.splits.at("gallery").class_names == shared,
             boost::test_tools::per_element());
  BOOST_CHECK_EQUAL(r.manifest.splits.at("train").num_classes, 2);
  const auto query = read_split(tmp / "out", "query");
  const auto gallery = read_split(tmp / "out", "gallery");
  BOOST_CHECK_EQUAL(query.at("img/b/1.png").label, 1);
  BOOST_CHECK_EQUAL(gallery.at("img/c/2.png").label, 1);
  BOOST_CHECK_EQUAL(query.at("img/b/2.png").label, 0);
  BOOST_CHECK_EQUAL(gallery.at("img/c/3.png").label, 0);

  // A query item without gallery images would shift the ids: refused.
  std::string unmatched = list;
  unmatched.replace(unmatched.find("id_00000009   query"), 11, "id_00000007");
  write_text(root + "/list_eval_partition.txt", unmatched);
  expect_failure<nsl::DataError>(options("inshop", root, tmp / "out"), tmp,
                                 {"splits 'query' and 'gallery' must have the same classes"});

  write_text(root + "/list_eval_partition.txt",
             "1\nimage_name item_id evaluation_status\nimg/a/1.png id_00000005 validation\n");
  expect_failure<nsl::DataError>(options("inshop", root, tmp / "out"), tmp,
                                 {"list_eval_partition.txt:3: evaluation_status 'validation'"});
  write_text(root + "/list_eval_partition.txt",
             "5\nimage_name item_id evaluation_status\nimg/a/1.png id_00000005 train\n");
  expect_failure<nsl::DataError>(options("inshop", root, tmp / "out"), tmp,
                                 {"declares 5 images but the file lists 1"});
}

// ---- Class folders, CSV ----------------------------------------------------------------------

namespace {

// Classes zebra, apple, mango (sorted: apple, mango | zebra); every supported format.
std::vector<std::string> make_folder(const std::string& root, int per_class) {
  std::vector<std::string> rels;
  const std::vector<std::string> formats = {".png", ".jpg", ".bmp", ".pgm"};
  int seed = 0;
  for (const std::string cls : {"zebra", "apple", "mango"})
    for (int i = 0; i < per_class; ++i, ++seed) {
      const std::string ext = formats[static_cast<size_t>(seed) % formats.size()];
      const std::string rel = cls + "/" + std::to_string(i) + ext;
      cv::Mat image = pattern(20 + seed % 7, 24 + seed % 5, seed);
      if (ext == ".pgm") cv::cvtColor(image, image, cv::COLOR_BGR2GRAY);
      write_image(root + "/" + rel, image);
      rels.push_back(rel);
    }
  write_text(root + "/apple/notes.txt", "not an image");
  return rels;
}

}  // namespace

BOOST_AUTO_TEST_CASE(folder_layout_all_formats) {
  TempDir tmp;
  const auto rels = make_folder(tmp / "folder", 4);
  const nsl::PrepResult r = nsl::prep_dataset(options("folder", tmp / "folder", tmp / "out"));
  BOOST_TEST(
      r.manifest.splits.at("train").class_names == (std::vector<std::string>{"apple", "mango"}),
      boost::test_tools::per_element());
  BOOST_TEST(r.manifest.splits.at("test").class_names == (std::vector<std::string>{"zebra"}),
             boost::test_tools::per_element());
  auto samples = read_split(tmp / "out", "train");
  auto test_samples = read_split(tmp / "out", "test");
  samples.insert(test_samples.begin(), test_samples.end());
  BOOST_REQUIRE_EQUAL(samples.size(), rels.size());
  for (const auto& rel : rels) {
    const auto& s = samples.at(rel);
    const std::string cls = rel.substr(0, rel.find('/'));
    BOOST_CHECK_EQUAL(s.label, cls == "mango" ? 1 : 0);
    BOOST_CHECK_MESSAGE(s.pixels == reference_rgb(tmp / ("folder/" + rel)), rel);
  }
}

BOOST_AUTO_TEST_CASE(output_is_byte_identical_for_any_worker_count) {
  TempDir tmp;
  make_folder(tmp / "folder", 10);
  std::vector<std::string> manifests;
  std::vector<std::map<std::string, std::string>> shards;
  for (int64_t workers : {1, 3, 8}) {
    auto o = options("folder", tmp / "folder", tmp / ("out" + std::to_string(workers)));
    o.workers = workers;
    o.shards = 3;
    const nsl::PrepResult r = nsl::prep_dataset(o);
    BOOST_CHECK_EQUAL(r.workers, workers);
    manifests.push_back(file_bytes(o.out + "/manifest.json"));
    std::map<std::string, std::string> bytes;
    for (const auto& [name, split] : r.manifest.splits)
      for (const auto& shard : split.shards)
        bytes[shard.file] = file_bytes(o.out + "/" + shard.file);
    BOOST_CHECK_EQUAL(bytes.size(), 6u);
    shards.push_back(bytes);
  }
  BOOST_CHECK(manifests[0] == manifests[1]);
  BOOST_CHECK(manifests[0] == manifests[2]);
  BOOST_CHECK(shards[0] == shards[1]);
  BOOST_CHECK(shards[0] == shards[2]);
}

BOOST_AUTO_TEST_CASE(csv_list_numeric_labels_and_gray) {
  TempDir tmp;
  const std::string abs_image = tmp / "elsewhere/d.png";
  cv::Mat gray_a, gray_c;
  cv::cvtColor(pattern(kSize, kSize, 1), gray_a, cv::COLOR_BGR2GRAY);
  cv::cvtColor(pattern(kSize, kSize, 3), gray_c, cv::COLOR_BGR2GRAY);
  write_image(tmp / "list/imgs/a.png", gray_a);
  write_image(tmp / "list/imgs/b.png", pattern(kSize, kSize, 2));
  write_image(tmp / "list/imgs/c.png", gray_c);
  write_image(abs_image, pattern(kSize, kSize, 4));
  write_text(tmp / "list/data.csv",
             "path,label,split\nimgs/a.png,10,train\nimgs/b.png, 9\n\n"
             "imgs/c.png,10,test\n" +
                 abs_image + ",3,test\r\n");
  auto o = options("csv", tmp / "list/data.csv", tmp / "out");
  o.channels = 1;
  const nsl::PrepResult r = nsl::prep_dataset(o);
  BOOST_TEST(r.manifest.splits.at("train").class_names == (std::vector<std::string>{"9", "10"}),
             boost::test_tools::per_element());
  BOOST_TEST(r.manifest.splits.at("test").class_names == (std::vector<std::string>{"3", "10"}),
             boost::test_tools::per_element());
  BOOST_CHECK_EQUAL(r.manifest.channels, 1);
  const auto train = read_split(tmp / "out", "train");
  const auto test = read_split(tmp / "out", "test");
  BOOST_CHECK_EQUAL(train.at("imgs/a.png").label, 1);
  BOOST_CHECK_EQUAL(test.at(abs_image).label, 0);
  // Gray sources come back exactly.
  const auto& a = train.at("imgs/a.png").pixels;
  BOOST_CHECK(a == std::vector<uint8_t>(gray_a.datastart, gray_a.dataend));
  BOOST_CHECK(test.at("imgs/c.png").pixels ==
              std::vector<uint8_t>(gray_c.datastart, gray_c.dataend));
  // A colour source: ITU-R BT.601 luma, to within rounding.
  const cv::Mat b = pattern(kSize, kSize, 2);
  const auto& gb = train.at("imgs/b.png").pixels;
  BOOST_REQUIRE_EQUAL(gb.size(), static_cast<size_t>(kSize * kSize));
  int worst = 0;
  for (int i = 0; i < kSize * kSize; ++i) {
    const cv::Vec3b p = b.at<cv::Vec3b>(i / kSize, i % kSize);
    const double y = 0.299 * p[2] + 0.587 * p[1] + 0.114 * p[0];
    worst =
        std::max(worst, static_cast<int>(std::lround(std::abs(y - gb[static_cast<size_t>(i)]))));
  }
  BOOST_CHECK_LE(worst, 1);

  write_text(tmp / "list/data.csv", "imgs/a.png,1\nimgs/b.png\n");
  expect_failure<nsl::DataError>(o, tmp, {"data.csv:2: expected 'path,label[,split]'"});
  write_text(tmp / "list/data.csv", "imgs/a.png,1,train set\n");
  expect_failure<nsl::DataError>(o, tmp, {"data.csv:1: split 'train set'"});
}

BOOST_AUTO_TEST_CASE(bad_options_are_config_errors) {
  TempDir tmp;
  make_folder(tmp / "folder", 1);
  auto o = options("imagenet", tmp / "folder", tmp / "out");
  expect_failure<nsl::ConfigError>(o, tmp, {"unknown dataset 'imagenet'", "cub200", "omniglot"});
  o = options("cub200", tmp / "nowhere", tmp / "out");
  expect_failure<nsl::ConfigError>(o, tmp, {"--root", "nowhere", "does not exist"});
  o = options("folder", tmp / "folder", tmp / "out");
  o.channels = 2;
  expect_failure<nsl::ConfigError>(o, tmp, {"--channels must be 1 or 3"});
  o = options("folder", tmp / "folder", tmp / "out");
  o.bbox_crop = true;
  expect_failure<nsl::ConfigError>(o, tmp, {"--bbox-crop", "no bounding boxes"});
  o = options("csv", tmp / "folder", tmp / "out");
  expect_failure<nsl::ConfigError>(o, tmp, {"must be a CSV file"});
}
