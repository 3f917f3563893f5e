#include "dist/fault_injection.h"

#include <cstdlib>
#include <sstream>
#include <vector>

#include "common/error.h"

namespace nsl {

FaultPlan FaultPlan::parse(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
  const std::string usage =
      "NSL_FAULT='" + text + "' is not <skip|hang|kill>:<rank>:<collective sequence number>";
  if (parts.size() != 3) throw ConfigError(usage);
  FaultPlan plan;
  if (parts[0] == "skip") {
    plan.action = FaultAction::kSkip;
  } else if (parts[0] == "hang") {
    plan.action = FaultAction::kHang;
  } else if (parts[0] == "kill") {
    plan.action = FaultAction::kKill;
  } else {
    throw ConfigError(usage);
  }
  try {
    size_t used = 0;
    plan.rank = std::stoi(parts[1], &used);
    if (used != parts[1].size()) throw ConfigError(usage);
    plan.seq = std::stoll(parts[2], &used);
    if (used != parts[2].size()) throw ConfigError(usage);
  } catch (const std::logic_error&) {
    throw ConfigError(usage);
  }
  return plan;
}

FaultPlan FaultPlan::from_environment() {
  const char* value = std::getenv("NSL_FAULT");
  return value == nullptr || *value == '\0' ? FaultPlan{} : parse(value);
}

}  // namespace nsl
