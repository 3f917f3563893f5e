// libFuzzer target: the YAML configuration loader and validator (nsl::parse_config), with a --set
// override. The input is the YAML text, then optionally a NUL byte and one override assignment
// ("key.path=value"; one only, as each costs a YAML parse). ConfigError is the expected outcome of
// a bad input; any other exception escapes and is reported as a crash. A configuration that parses
// must survive to_yaml -> parse_config -> to_yaml unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/error.h"
#include "config/config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string yaml = input.substr(0, nul);
  std::vector<std::string> overrides;
  if (nul != std::string::npos) overrides.push_back(input.substr(nul + 1));
  nsl::Config config;
  try {
    config = nsl::parse_config(yaml, overrides, "fuzz.yaml");
  } catch (const nsl::Error& e) {
    if (nsl::fuzz::verbose()) std::fprintf(stderr, "error: %s\n", e.what());
    return 0;
  }
  if (nsl::fuzz::verbose()) std::fprintf(stderr, "ok\n");
  const std::string text = nsl::to_yaml(config);
  std::string again;
  try {
    again = nsl::to_yaml(nsl::parse_config(text, {}, "to_yaml"));
  } catch (const nsl::Error& e) {
    std::fprintf(stderr, "fuzz_config: to_yaml output does not parse back: %s\n---\n%s---\n",
                 e.what(), text.c_str());
    std::abort();
  }
  if (again != text) {
    std::fprintf(stderr, "fuzz_config: to_yaml round trip differs:\n---\n%s---\n%s---\n",
                 text.c_str(), again.c_str());
    std::abort();
  }
  return 0;
}
