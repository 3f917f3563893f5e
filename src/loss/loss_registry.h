#pragma once
// loss.name -> the loss: its properties, its extra validation and its factory, in one table. The
// built-in losses come from builtin_losses() (one line each); a program or test adds its own with
// register_loss(loss_entry<MyCriterion>()) (loss/criterion.h) before the configuration is read.
// LibTorch-free, so that configuration validation (and the LibTorch-free fuzz build) can use it.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace nsl {

class Criterion;  // loss/criterion.h

struct LossProperties {
  bool has_centers = false;  // C x d centers / proxies: EmbeddingLoss's parameter "centers"
  bool batch_loss = false;   // defined over the whole global batch (the trainer gathers it)
  bool shardable = false;    // runs with loss.centers: sharded (Criterion::forward_sharded)
};

struct LossEntry {
  std::string name;  // the loss.name that selects it
  LossProperties properties;
  // Checks beyond the key-by-key validation of every loss's keys; throws ConfigError naming the
  // key. Empty: nothing more to check.
  std::function<void(const LossConfig&)> validate;
  std::function<std::unique_ptr<Criterion>(const LossConfig&, int64_t num_classes, int64_t dim)>
      create;
};

// Adds a loss; std::logic_error when its name is taken. Returns true, so that a file can register
// at namespace scope: `const bool kRegistered = register_loss(loss_entry<MyCriterion>());`.
// Registration is not thread-safe: register before any thread reads the table.
bool register_loss(LossEntry entry);

// The entry of loss.name; ConfigError naming the key and listing the registered names otherwise.
const LossEntry& find_loss(const std::string& name);
// Every registered name: the built-in ones in builtin_losses() order, then the others in
// registration order.
std::vector<std::string> registered_loss_names();

// The built-in losses, in the order their names are listed in errors. Defined in builtin_losses.cpp
// (LibTorch); the fuzz build links tests/fuzz/fuzz_builtin_losses.cpp, the names without factories.
std::vector<LossEntry> builtin_losses();

}  // namespace nsl
