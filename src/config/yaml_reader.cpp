#include "config/yaml_reader.h"

#include <utility>

#include "common/error.h"

namespace nsl {

namespace {

// The text of a mapping key; false for a list or mapping used as a key (never a config key).
bool key_name(const YAML::Node& key, std::string& name) {
  if (key.IsSequence() || key.IsMap()) return false;
  name = key.as<std::string>();  // a scalar, or "null" for an empty key
  return true;
}

}  // namespace

YamlReader::YamlReader(YAML::Node node, std::string path, const std::set<std::string>* overridden)
    : node_(std::move(node)), path_(std::move(path)), overridden_(overridden) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    throw ConfigError("config key '" + (path_.empty() ? std::string("<root>") : path_) +
                      "' must be a mapping of keys to values" +
                      (node_.Mark().line >= 0
                           ? " (line " + std::to_string(node_.Mark().line + 1) + ")"
                           : std::string()));
  }
}

std::string YamlReader::key_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

std::string YamlReader::where(const std::string& key) const {
  if (overridden_ && overridden_->count(key_path(key))) return " (from --set)";
  if (node_.IsMap()) {
    for (const auto& kv : node_) {
      std::string name;
      if (key_name(kv.first, name) && name == key && kv.first.Mark().line >= 0) {
        return " (line " + std::to_string(kv.first.Mark().line + 1) + ")";
      }
    }
  }
  return "";
}

YAML::Node YamlReader::child(const std::string& key) {
  used_.insert(key);
  if (!node_.IsMap()) return YAML::Node();
  return node_[key];
}

template <typename T>
void YamlReader::get_scalar(const std::string& key, T& out, const char* type_name) {
  YAML::Node value = child(key);
  if (!value.IsDefined() || value.IsNull()) return;
  if (!value.IsScalar()) {
    throw ConfigError("config key '" + key_path(key) + "' must be " + type_name + where(key));
  }
  try {
    out = value.as<T>();
  } catch (const YAML::Exception&) {
    throw ConfigError("config key '" + key_path(key) + "' must be " + type_name + ", got '" +
                      value.Scalar() + "'" + where(key));
  }
}

void YamlReader::get(const std::string& key, int64_t& out) { get_scalar(key, out, "an integer"); }
void YamlReader::get(const std::string& key, uint64_t& out) {
  get_scalar(key, out, "a non-negative integer");
}
void YamlReader::get(const std::string& key, double& out) { get_scalar(key, out, "a number"); }
void YamlReader::get(const std::string& key, bool& out) { get_scalar(key, out, "true or false"); }
void YamlReader::get(const std::string& key, std::string& out) { get_scalar(key, out, "a string"); }

namespace {

// A YAML sequence of T into `out`; `what` names the type in errors ("integers", "numbers").
template <typename T>
void read_list(const YamlReader& r, const YAML::Node& value, const std::string& key,
               const char* what, std::vector<T>& out) {
  if (!value.IsDefined() || value.IsNull()) return;
  if (!value.IsSequence()) {
    throw ConfigError("config key '" + r.key_path(key) + "' must be a list of " + what +
                      r.where(key));
  }
  std::vector<T> parsed;
  for (const auto& item : value) {
    try {
      parsed.push_back(item.as<T>());
    } catch (const YAML::Exception&) {
      throw ConfigError("config key '" + r.key_path(key) + "' must be a list of " + what +
                        ", got '" + (item.IsScalar() ? item.Scalar() : std::string("<nested>")) +
                        "'" + r.where(key));
    }
  }
  out = std::move(parsed);
}

}  // namespace

void YamlReader::get(const std::string& key, std::vector<int64_t>& out) {
  read_list(*this, child(key), key, "integers", out);
}
void YamlReader::get(const std::string& key, std::vector<double>& out) {
  read_list(*this, child(key), key, "numbers", out);
}

YamlReader YamlReader::section(const std::string& key) {
  return YamlReader(child(key), key_path(key), overridden_);
}

void YamlReader::finish() const {
  if (!node_.IsMap()) return;
  for (const auto& kv : node_) {
    std::string key;
    if (!key_name(kv.first, key)) {
      throw ConfigError("config mapping '" + (path_.empty() ? std::string("<root>") : path_) +
                        "' has a list or mapping as a key" +
                        (kv.first.Mark().line >= 0
                             ? " (line " + std::to_string(kv.first.Mark().line + 1) + ")"
                             : std::string()) +
                        ": keys must be plain names (see configs/demo.yaml)");
    }
    if (!used_.count(key)) {
      throw ConfigError(
          "unknown config key '" + key_path(key) + "'" + where(key) +
          ": check the spelling against configs/demo.yaml or the README's Configuration table");
    }
  }
}

void apply_override(YAML::Node& root, const std::string& assignment, std::set<std::string>& paths) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("--set expects key.path=value, got '" + assignment + "'");
  }
  const std::string path = assignment.substr(0, eq);
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set " + path + ": value is not valid YAML: " + e.msg);
  }
  YAML::Node cur;
  cur.reset(root);
  std::string::size_type start = 0;
  while (true) {
    const auto dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (part.empty()) throw ConfigError("--set: empty key in path '" + path + "'");
    // yaml-cpp throws BadSubscript for a key of a scalar (and turns a list into a mapping).
    if (cur.IsDefined() && !cur.IsNull() && !cur.IsMap()) {
      throw ConfigError("--set " + path + ": '" +
                        (start == 0 ? std::string("<root>") : path.substr(0, start - 1)) +
                        "' is not a mapping of keys to values, so it has no key '" + part + "'");
    }
    if (dot == std::string::npos) {
      cur[part] = value;
      break;
    }
    if (!cur[part].IsDefined() || cur[part].IsNull()) cur[part] = YAML::Node(YAML::NodeType::Map);
    YAML::Node next = cur[part];
    cur.reset(next);
    start = dot + 1;
  }
  paths.insert(path);
}

}  // namespace nsl
