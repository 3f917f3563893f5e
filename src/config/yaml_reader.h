#pragma once
// Typed, strict reading of one YAML mapping: every key read is remembered, and finish() rejects the
// keys nobody asked for, naming the full key path and the line.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace nsl {

class YamlReader {
 public:
  // `overridden` holds the key paths that came from --set, so errors can say where a value came
  // from.
  YamlReader(YAML::Node node, std::string path, const std::set<std::string>* overridden = nullptr);

  // Each get() leaves `out` untouched when the key is absent.
  void get(const std::string& key, int64_t& out);
  void get(const std::string& key, uint64_t& out);
  void get(const std::string& key, double& out);
  void get(const std::string& key, bool& out);
  void get(const std::string& key, std::string& out);
  void get(const std::string& key, std::vector<int64_t>& out);
  void get(const std::string& key, std::vector<double>& out);

  // A nested mapping; an absent key gives an empty one.
  YamlReader section(const std::string& key);
  // Throws ConfigError for the first key that was never read.
  void finish() const;

  std::string key_path(const std::string& key) const;
  // " (line N)" or " (from --set)" for the key, for error messages.
  std::string where(const std::string& key) const;

 private:
  YAML::Node child(const std::string& key);
  template <typename T>
  void get_scalar(const std::string& key, T& out, const char* type_name);

  YAML::Node node_;
  std::string path_;
  const std::set<std::string>* overridden_;
  std::set<std::string> used_;
};

// Applies "a.b.c=value" to the tree; the value is parsed as YAML (numbers, booleans, [lists]).
void apply_override(YAML::Node& root, const std::string& assignment, std::set<std::string>& paths);

}  // namespace nsl
