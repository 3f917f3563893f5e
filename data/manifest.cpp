#include "data/manifest.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "common/error.h"
#include "data/checksum.h"

namespace nsl {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& where, const std::string& key, const std::string& what) {
  throw DataError("dataset manifest '" + where + "': " + (key.empty() ? "" : "key '" + key + "' ") +
                  what + "; re-run the converter (nsl_dist prep) to rewrite the dataset");
}

const json& child(const json& j, const std::string& key, const std::string& path,
                  const std::string& where) {
  const std::string full = path.empty() ? key : path + "." + key;
  if (!j.is_object()) bad(where, path, "is not an object");
  auto it = j.find(key);
  if (it == j.end()) bad(where, full, "is missing");
  return *it;
}

// An integer that fits int64_t: get<int64_t>() of a float out of range is undefined behaviour, and
// of an unsigned value beyond INT64_MAX a silent wrap. (Parsed non-negative integers are unsigned,
// those set from int64_t signed.)
bool is_int64(const json& v) {
  return v.is_number_integer() &&
         (!v.is_number_unsigned() ||
          v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
}

int64_t get_int(const json& j, const std::string& key, const std::string& path,
                const std::string& where) {
  const json& v = child(j, key, path, where);
  if (!is_int64(v)) bad(where, path.empty() ? key : path + "." + key, "is not an integer");
  return v.get<int64_t>();
}

std::string get_string(const json& j, const std::string& key, const std::string& path,
                       const std::string& where) {
  const json& v = child(j, key, path, where);
  if (!v.is_string()) bad(where, path.empty() ? key : path + "." + key, "is not a string");
  return v.get<std::string>();
}

const json& get_array(const json& j, const std::string& key, const std::string& path,
                      const std::string& where) {
  const json& v = child(j, key, path, where);
  if (!v.is_array()) bad(where, path.empty() ? key : path + "." + key, "is not an array");
  return v;
}

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos;
}

bool is_hex16(const std::string& s) {
  if (s.size() != 16) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The sum of non-negative counts; nullopt when it overflows int64 (it then matches no count).
std::optional<int64_t> sum_counts(const std::vector<int64_t>& counts) {
  int64_t sum = 0;
  for (int64_t c : counts) {
    if (c > std::numeric_limits<int64_t>::max() - sum) return std::nullopt;
    sum += c;
  }
  return sum;
}

std::string sum_text(const std::optional<int64_t>& sum) {
  return sum ? std::to_string(*sum)
             : "more than " + std::to_string(std::numeric_limits<int64_t>::max());
}

}  // namespace

json manifest_to_json(const Manifest& m) {
  json j;
  j["format"] = kManifestFormat;
  j["version"] = m.version;
  j["name"] = m.name;
  j["height"] = m.height;
  j["width"] = m.width;
  j["channels"] = m.channels;
  json splits = json::object();
  for (const auto& [name, s] : m.splits) {
    json js;
    js["num_classes"] = s.num_classes;
    js["num_images"] = s.num_images;
    js["class_names"] = s.class_names;
    js["class_histogram"] = s.class_histogram;
    json shards = json::array();
    for (const auto& sh : s.shards) {
      json jsh = {{"file", sh.file}, {"count", sh.count}, {"checksum", sh.checksum}};
      if (sh.bytes >= 0) jsh["bytes"] = sh.bytes;
      shards.push_back(jsh);
    }
    js["shards"] = shards;
    splits[name] = js;
  }
  j["splits"] = splits;
  j["source"] = m.source;
  return j;
}

Manifest manifest_from_json(const json& j, const std::string& where) {
  Manifest m;
  const std::string format = get_string(j, "format", "", where);
  if (format != kManifestFormat)
    bad(where, "format", "is '" + format + "', expected '" + kManifestFormat + "'");
  const int64_t version = get_int(j, "version", "", where);
  if (version != 1)
    bad(where, "version", "is " + std::to_string(version) + ", only 1 is supported");
  m.version = static_cast<int>(version);
  m.name = get_string(j, "name", "", where);
  m.height = get_int(j, "height", "", where);
  m.width = get_int(j, "width", "", where);
  m.channels = get_int(j, "channels", "", where);
  if (m.height < 1 || m.width < 1 || m.channels < 1)
    bad(where, "height/width/channels", "must be positive");
  const json& splits = child(j, "splits", "", where);
  if (!splits.is_object() || splits.empty()) bad(where, "splits", "must be a non-empty object");
  for (const auto& [name, js] : splits.items()) {
    const std::string p = "splits." + name;
    Manifest::Split s;
    s.num_classes = get_int(js, "num_classes", p, where);
    s.num_images = get_int(js, "num_images", p, where);
    const json& names = get_array(js, "class_names", p, where);
    for (size_t i = 0; i < names.size(); ++i) {
      if (!names[i].is_string())
        bad(where, p + ".class_names[" + std::to_string(i) + "]", "is not a string");
      s.class_names.push_back(names[i].get<std::string>());
    }
    const json& hist = get_array(js, "class_histogram", p, where);
    for (size_t i = 0; i < hist.size(); ++i) {
      if (!is_int64(hist[i]) || hist[i].get<int64_t>() < 0)
        bad(where, p + ".class_histogram[" + std::to_string(i) + "]",
            "is not a non-negative integer");
      s.class_histogram.push_back(hist[i].get<int64_t>());
    }
    const json& shards = get_array(js, "shards", p, where);
    if (shards.empty()) bad(where, p + ".shards", "is empty");
    for (size_t i = 0; i < shards.size(); ++i) {
      const std::string sp = p + ".shards[" + std::to_string(i) + "]";
      Manifest::Split::Shard sh;
      sh.file = get_string(shards[i], "file", sp, where);
      sh.count = get_int(shards[i], "count", sp, where);
      sh.checksum = get_string(shards[i], "checksum", sp, where);
      if (shards[i].contains("bytes")) sh.bytes = get_int(shards[i], "bytes", sp, where);
      if (!is_plain_file_name(sh.file)) bad(where, sp + ".file", "must be a plain file name");
      if (sh.count < 0) bad(where, sp + ".count", "is negative");
      if (!is_hex16(sh.checksum)) bad(where, sp + ".checksum", "is not 16 lowercase hex digits");
      s.shards.push_back(sh);
    }
    if (s.num_classes < 1) bad(where, p + ".num_classes", "must be at least 1");
    if (static_cast<int64_t>(s.class_names.size()) != s.num_classes)
      bad(where, p + ".class_names",
          "has " + std::to_string(s.class_names.size()) + " entries but num_classes is " +
              std::to_string(s.num_classes));
    if (static_cast<int64_t>(s.class_histogram.size()) != s.num_classes)
      bad(where, p + ".class_histogram",
          "has " + std::to_string(s.class_histogram.size()) + " entries but num_classes is " +
              std::to_string(s.num_classes));
    std::vector<int64_t> shard_counts;
    for (const auto& sh : s.shards) shard_counts.push_back(sh.count);
    const auto hist_sum = sum_counts(s.class_histogram);
    const auto shard_sum = sum_counts(shard_counts);
    if (hist_sum != s.num_images || shard_sum != s.num_images)
      bad(where, p + ".num_images",
          "is " + std::to_string(s.num_images) + " but the class histogram sums to " +
              sum_text(hist_sum) + " and the shard counts to " + sum_text(shard_sum));
    m.splits.emplace(name, std::move(s));
  }
  if (j.contains("source")) m.source = j["source"];
  return m;
}

void write_manifest(const std::string& dir, const Manifest& m) {
  const fs::path path = fs::path(dir) / kManifestFile;
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw DataError("cannot create dataset manifest '" + path.string() + "'");
  out << manifest_to_json(m).dump(2) << "\n";
  out.close();
  if (!out) throw DataError("cannot write dataset manifest '" + path.string() + "' (disk full?)");
}

Manifest parse_manifest(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw DataError("dataset manifest '" + where + "' is not valid JSON (" + e.what() +
                    "); re-run the converter (nsl_dist prep) to rewrite the dataset");
  }
  return manifest_from_json(j, where);
}

Manifest read_manifest(const std::string& dir) {
  const fs::path path = fs::path(dir) / kManifestFile;
  std::ifstream in(path);
  if (!in)
    throw DataError("dataset manifest '" + path.string() + "' not found: '" + dir +
                    "' is not a converted dataset; run the converter (nsl_dist prep) first");
  std::stringstream text;
  text << in.rdbuf();
  return parse_manifest(text.str(), path.string());
}

const Manifest::Split& manifest_split(const Manifest& m, const std::string& name,
                                      const std::string& dir) {
  auto it = m.splits.find(name);
  if (it == m.splits.end()) {
    std::string have;
    for (const auto& [n, s] : m.splits) have += (have.empty() ? "" : ", ") + n;
    throw DataError("dataset '" + dir + "' has no split '" + name + "' (it has: " + have + ")");
  }
  return it->second;
}

void verify_dataset(const std::string& dir, const Manifest& m) {
  for (const auto& [split, s] : m.splits) {
    for (size_t i = 0; i < s.shards.size(); ++i) {
      const auto& sh = s.shards[i];
      const fs::path path = fs::path(dir) / sh.file;
      const std::string where = "shard file '" + path.string() + "' (split '" + split +
                                "', shard " + std::to_string(i) + ")";
      const std::string fix =
          "; the dataset is incomplete or corrupted: re-run the converter "
          "(nsl_dist prep) to rewrite it";
      std::error_code ec;
      if (!fs::is_regular_file(path, ec)) throw DataError(where + " is missing" + fix);
      if (sh.bytes >= 0) {
        const auto size = fs::file_size(path, ec);
        if (ec || static_cast<int64_t>(size) != sh.bytes)
          throw DataError(where + " has " + std::to_string(ec ? 0 : size) +
                          " bytes, the manifest records " + std::to_string(sh.bytes) + fix);
      }
      const std::string sum = file_checksum(path.string());
      if (sum != sh.checksum)
        throw DataError(where + " has checksum " + sum + ", the manifest records " + sh.checksum +
                        fix);
    }
  }
}

}  // namespace nsl
