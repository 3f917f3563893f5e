#include "data/prep/annotation_file.h"

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "common/error.h"

namespace nsl {

AnnotationFile::AnnotationFile(const std::string& path) : path_(path), in_(path) {
  if (!in_) throw DataError("missing annotation file '" + path + "'");
}

bool AnnotationFile::next_line(std::string& line) {
  if (!std::getline(in_, line)) return false;
  ++line_number_;
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return true;
}

bool AnnotationFile::next_tokens(std::vector<std::string>& tokens) {
  std::string line;
  while (next_line(line)) {
    tokens = split_whitespace(line);
    if (!tokens.empty()) return true;
  }
  return false;
}

std::string AnnotationFile::where() const { return path_ + ":" + std::to_string(line_number_); }

void AnnotationFile::fail(const std::string& what) const { throw DataError(where() + ": " + what); }

int64_t AnnotationFile::to_int(const std::string& token, const std::string& expected) const {
  int64_t value = 0;
  if (!parse_int(token, value)) fail("expected " + expected);
  return value;
}

double AnnotationFile::to_double(const std::string& token, const std::string& expected) const {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(token.c_str(), &end);
  if (token.empty() || end != token.c_str() + token.size() || errno != 0)
    fail("expected " + expected);
  return value;
}

std::vector<std::string> split_whitespace(const std::string& line) {
  std::vector<std::string> tokens;
  std::istringstream in(line);
  std::string token;
  while (in >> token) tokens.push_back(token);
  return tokens;
}

bool parse_int(const std::string& text, int64_t& value) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (end != text.c_str() + text.size() || errno != 0) return false;
  value = static_cast<int64_t>(v);
  return true;
}

}  // namespace nsl
