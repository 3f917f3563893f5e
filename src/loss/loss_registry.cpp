#include "loss/loss_registry.h"

#include <deque>
#include <stdexcept>
#include <utility>

#include "common/error.h"

namespace nsl {
namespace {

// A deque: find_loss() hands out references, which later registrations must not move.
std::deque<LossEntry>& entries() {
  static std::deque<LossEntry> table = [] {
    std::deque<LossEntry> t;
    for (auto& e : builtin_losses()) t.push_back(std::move(e));
    return t;
  }();
  return table;
}

const LossEntry* lookup(const std::string& name) {
  for (const auto& e : entries()) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

}  // namespace

bool register_loss(LossEntry entry) {
  if (entry.name.empty() || !entry.create) {
    throw std::logic_error("register_loss: a loss needs a name and a create function");
  }
  if (lookup(entry.name) != nullptr) {
    throw std::logic_error("register_loss: a loss named '" + entry.name +
                           "' is registered already");
  }
  entries().push_back(std::move(entry));
  return true;
}

const LossEntry& find_loss(const std::string& name) {
  if (const LossEntry* e = lookup(name)) return *e;
  std::string list;
  for (const auto& e : entries()) list += (list.empty() ? "" : " | ") + e.name;
  throw ConfigError("config key 'loss.name': '" + name + "' is not one of: " + list);
}

std::vector<std::string> registered_loss_names() {
  std::vector<std::string> names;
  for (const auto& e : entries()) names.push_back(e.name);
  return names;
}

}  // namespace nsl
