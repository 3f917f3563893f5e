#pragma once
// The configuration keys that take one of a fixed set of words, as enums. Each enum's names are
// its YAML words in declaration order: reading, to_yaml() and the error messages use them, so the
// YAML text is the only place the words appear. (loss.name is open: see loss/loss_registry.h.)
#include <array>
#include <cstddef>
#include <string>
#include <type_traits>

namespace nsl {

enum class Backbone { kSmallCnn, kResnet18, kResnet50 };  // model.backbone
enum class Pooling { kAvg, kMax, kAvgMax };               // model.pooling
enum class Ranking { kSoftmax, kHinge };                  // loss.ranking
enum class DecorrelationMode {
  kEpochGs,
  kIterGs,
  kInnerProduct,
  kNone
};                                                     // loss.decorrelation.mode
enum class CenterInit { kRandom, kClassMean };         // loss.center_init
enum class CenterPlacement { kReplicated, kSharded };  // loss.centers
enum class Sampler { kUniform, kPk };                  // train.sampler
enum class LrSchedule { kConstant, kCosine };          // train.lr_schedule
enum class CenterOptimizer { kAdamW, kSgd };           // train.center_optimizer
enum class CenterUpdate { kAll, kPresent };            // train.center_update
enum class DistBackend { kAuto, kMpi, kNccl };         // dist.backend

template <typename E>
struct ChoiceNames;  // names: the YAML word of each enumerator, in declaration order

template <>
struct ChoiceNames<Backbone> {
  static constexpr std::array<const char*, 3> names = {"small_cnn", "resnet18", "resnet50"};
};
template <>
struct ChoiceNames<Pooling> {
  static constexpr std::array<const char*, 3> names = {"avg", "max", "avg+max"};
};
template <>
struct ChoiceNames<Ranking> {
  static constexpr std::array<const char*, 2> names = {"softmax", "hinge"};
};
template <>
struct ChoiceNames<DecorrelationMode> {
  static constexpr std::array<const char*, 4> names = {"epoch_gs", "iter_gs", "inner_product",
                                                       "none"};
};
template <>
struct ChoiceNames<CenterInit> {
  static constexpr std::array<const char*, 2> names = {"random", "class_mean"};
};
template <>
struct ChoiceNames<CenterPlacement> {
  static constexpr std::array<const char*, 2> names = {"replicated", "sharded"};
};
template <>
struct ChoiceNames<Sampler> {
  static constexpr std::array<const char*, 2> names = {"uniform", "pk"};
};
template <>
struct ChoiceNames<LrSchedule> {
  static constexpr std::array<const char*, 2> names = {"constant", "cosine"};
};
template <>
struct ChoiceNames<CenterOptimizer> {
  static constexpr std::array<const char*, 2> names = {"adamw", "sgd"};
};
template <>
struct ChoiceNames<CenterUpdate> {
  static constexpr std::array<const char*, 2> names = {"all", "present"};
};
template <>
struct ChoiceNames<DistBackend> {
  static constexpr std::array<const char*, 3> names = {"auto", "mpi", "nccl"};
};

template <typename E>
const char* choice_name(E value) {
  return ChoiceNames<E>::names.at(static_cast<std::size_t>(value));
}

// The enumerator whose word is `text` into `out`; false (and `out` untouched) for any other text.
template <typename E>
bool parse_choice(const std::string& text, E& out) {
  const auto& names = ChoiceNames<E>::names;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (text == names[i]) {
      out = static_cast<E>(i);
      return true;
    }
  }
  return false;
}

// "a | b | c": the words of E for error messages.
template <typename E>
std::string choice_list() {
  std::string list;
  for (const char* name : ChoiceNames<E>::names)
    list += (list.empty() ? "" : " | ") + std::string(name);
  return list;
}

}  // namespace nsl
