// The safetensors reader against files written byte by byte here, and ResNet weight loading with
// torchvision names (parameter counts are the published ones).
#define BOOST_TEST_DYN_LINK
#define BOOST_TEST_MODULE safetensors
#include <boost/test/unit_test.hpp>

#include <fstream>

#include "common/error.h"
#include "model/resnet.h"
#include "model/safetensors.h"
#include "support/run_command.h"
#include "support/safetensors_writer.h"

namespace {

using nsl::test::write_module;
using nsl::test::write_raw;

std::string le16(std::initializer_list<uint16_t> values) {
  std::string s;
  for (uint16_t v : values) {
    s.push_back(static_cast<char>(v & 0xff));
    s.push_back(static_cast<char>(v >> 8));
  }
  return s;
}

std::string le32f(std::initializer_list<float> values) {
  std::string s;
  for (float f : values) {
    uint32_t bits = 0;
    std::memcpy(&bits, &f, 4);
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
  return s;
}

std::string error_of(const std::string& path) {
  try {
    nsl::read_safetensors(path);
  } catch (const nsl::DataError& e) {
    return e.what();
  }
  BOOST_FAIL("no DataError for " << path);
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

int64_t count(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(reads_f32_f16_bf16_written_by_hand) {
  nsl::test::ScratchDir dir("safetensors");
  const std::string path = dir / "w.safetensors";
  // F16: 1.0 = 0x3C00, -2.0 = 0xC000, 0.5 = 0x3800. BF16: 1.0 = 0x3F80, -2.0 = 0xC000, 0.5 =
  // 0x3F00.
  const std::string data =
      le32f({1.5f, -3.0f}) + le16({0x3C00, 0xC000, 0x3800}) + le16({0x3F80, 0xC000, 0x3F00});
  write_raw(path,
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"h\":{\"dtype\":\"F16\",\"shape\":[3,1],\"data_offsets\":[8,14]},"
            "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[14,20]},"
            "\"__metadata__\":{\"x\":\"y\"}}",
            data);
  const auto t = nsl::read_safetensors(path);
  BOOST_TEST(t.size() == 3u);
  BOOST_TEST(torch::equal(t.at("a"), torch::tensor({1.5f, -3.0f})));
  BOOST_TEST(torch::equal(t.at("h"), torch::tensor({1.0f, -2.0f, 0.5f}).view({3, 1})));
  BOOST_TEST(torch::equal(t.at("b"), torch::tensor({1.0f, -2.0f, 0.5f})));
}

BOOST_AUTO_TEST_CASE(defects_are_clear_errors) {
  nsl::test::ScratchDir dir("safetensors_bad");
  BOOST_TEST(contains(error_of(dir / "missing.safetensors"), "cannot be opened"));
  { std::ofstream(dir / "short") << "abc"; }
  BOOST_TEST(contains(error_of(dir / "short"), "too short"));
  write_raw(dir / "trunc", std::string(100, ' '), "");
  {  // header claims more bytes than the file has
    std::fstream f(dir / "trunc", std::ios::in | std::ios::out | std::ios::binary);
    f.put(static_cast<char>(0xff));
  }
  BOOST_TEST(contains(error_of(dir / "trunc"), "exceeds the file"));
  write_raw(dir / "json", "{\"a\": [1, 2", "");
  BOOST_TEST(contains(error_of(dir / "json"), "malformed"));
  write_raw(dir / "dtype", "{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
            le32f({1.0f}));
  const std::string dtype = error_of(dir / "dtype");
  BOOST_TEST(contains(dtype, "I32"), dtype);
  BOOST_TEST(contains(dtype, "'a'"), dtype);
  write_raw(dir / "offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
            le32f({1.0f, 2.0f}));
  BOOST_TEST(contains(error_of(dir / "offsets"), "data_offsets"));
  write_raw(dir / "entry", "{\"a\":{\"dtype\":\"F32\"}}", "");
  BOOST_TEST(contains(error_of(dir / "entry"), "malformed entry"));
  BOOST_TEST(contains(error_of(dir / "offsets"), (dir / "offsets")));
}

BOOST_AUTO_TEST_CASE(resnets_have_torchvision_names_and_sizes) {
  nsl::ResNet r18(18, 3), r50(50, 3);
  // torchvision: resnet18 11,689,512 and resnet50 25,557,032 parameters, of which the 1000-way
  // classifier (not built here) holds 513,000 and 2,049,000.
  BOOST_TEST(count(r18->parameters()) == 11689512 - 513000);
  BOOST_TEST(count(r50->parameters()) == 25557032 - 2049000);
  const auto n18 = r18->named_parameters();
  for (const char* k :
       {"conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.1.bn2.bias",
        "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight", "layer4.1.conv2.weight"}) {
    BOOST_TEST(n18.contains(k), k);
  }
  const auto b50 = r50->named_buffers();
  BOOST_TEST(b50.contains("layer4.2.bn3.running_var"));
  BOOST_TEST(r50->named_parameters().contains("layer3.5.conv3.weight"));
  const auto out = r18->forward(torch::randn({2, 3, 64, 64}));
  BOOST_TEST(out.sizes() == torch::IntArrayRef({2, 512, 2, 2}));
}

BOOST_AUTO_TEST_CASE(load_pretrained_maps_keys_and_lists_every_problem) {
  nsl::test::ScratchDir dir("safetensors_load");
  torch::manual_seed(1);
  nsl::ResNet source(18, 3);
  const std::map<std::string, torch::Tensor> fc = {{"model.fc.weight", torch::zeros({10, 512})},
                                                   {"model.fc.bias", torch::zeros({10})}};
  write_module(dir / "good", *source, "model.", fc);
  torch::manual_seed(2);
  nsl::ResNet target(18, 3);
  const auto report = nsl::load_pretrained(*target, dir / "good");
  BOOST_TEST(report.ignored.size() == 2u);
  const auto a = source->named_parameters();
  for (const auto& p : target->named_parameters()) BOOST_TEST(torch::equal(p.value(), a[p.key()]));
  BOOST_TEST(torch::equal(target->named_buffers()["bn1.running_mean"],
                          source->named_buffers()["bn1.running_mean"]));

  // One missing, one unexpected and one mis-shaped key, reported together.
  const std::map<std::string, torch::Tensor> bad = {{"module.layer9.weight", torch::zeros({1})},
                                                    {"module.conv1.weight", torch::zeros({3})}};
  write_module(dir / "bad", *source, "module.", bad, "module.layer1.0.bn1.bias");
  try {
    nsl::load_pretrained(*target, dir / "bad");
    BOOST_FAIL("no error");
  } catch (const nsl::DataError& e) {
    const std::string msg = e.what();
    BOOST_TEST(contains(msg, "missing keys:\n    layer1.0.bn1.bias"), msg);
    BOOST_TEST(contains(msg, "unexpected keys:\n    layer9.weight"), msg);
    BOOST_TEST(contains(msg, "mis-shaped keys:\n    conv1.weight"), msg);
  }
  BOOST_TEST(nsl::map_resnet_key("module.model.layer1.0.conv1.weight") == "layer1.0.conv1.weight");
}
