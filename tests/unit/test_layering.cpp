#define BOOST_TEST_MODULE layering
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

#include "test_paths.h"

namespace fs = std::filesystem;

// The dependency rule of docs/ARCHITECTURE.md: nothing under src/ includes mpi.h, nccl.h or
// hdf5.h; the trainer only sees a Communicator and batch sources.
std::vector<std::string> offending_includes(const fs::path& root) {
  const std::regex forbidden(R"(^\s*#\s*include\s*[<"](mpi|nccl|hdf5)\.h[>"])");
  std::vector<std::string> hits;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path());
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (std::regex_search(line, forbidden)) {
        hits.push_back(entry.path().string() + ":" + std::to_string(number) + ": " + line);
      }
    }
  }
  return hits;
}

BOOST_AUTO_TEST_CASE(src_never_includes_mpi_nccl_or_hdf5) {
  const auto hits = offending_includes(fs::path(NSL_SOURCE_DIR) / "src");
  for (const auto& h : hits) BOOST_ERROR("forbidden include: " << h);
}

BOOST_AUTO_TEST_CASE(the_check_catches_a_violation) {
  const fs::path dir = fs::temp_directory_path() / "nsl_layering_probe";
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "sub" / "bad.cpp") << "#include <vector>\n  #include \"nccl.h\"\n";
  std::ofstream(dir / "ok.cpp") << "#include \"mpi_communicator.h\"\n// mpi.h mentioned\n";
  const auto hits = offending_includes(dir);
  fs::remove_all(dir);
  BOOST_TEST(hits.size() == 1u);
  BOOST_TEST(hits[0].find("bad.cpp:2") != std::string::npos);
}
