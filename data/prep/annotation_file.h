#pragma once
// Line-by-line reading of a text annotation file with errors that name the file and the line
// ("/data/CUB_200_2011/images.txt:17: expected '<id> <path>'").
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace nsl {

class AnnotationFile {
 public:
  // Throws DataError "missing annotation file '<path>'" when it cannot be opened.
  explicit AnnotationFile(const std::string& path);

  // The next line without its end-of-line characters (CR included); false at the end.
  bool next_line(std::string& line);
  // The next line that is not blank, split on whitespace; false at the end.
  bool next_tokens(std::vector<std::string>& tokens);

  const std::string& path() const { return path_; }
  int64_t line_number() const { return line_number_; }
  // "<path>:<line>"
  std::string where() const;
  // DataError "<path>:<line>: <what>".
  [[noreturn]] void fail(const std::string& what) const;

  // Whole-token conversions; on failure fail("expected " + expected).
  int64_t to_int(const std::string& token, const std::string& expected) const;
  double to_double(const std::string& token, const std::string& expected) const;

 private:
  std::string path_;
  std::ifstream in_;
  int64_t line_number_ = 0;
};

std::vector<std::string> split_whitespace(const std::string& line);
// Parses the whole string as a base-10 integer; false when it is not one.
bool parse_int(const std::string& text, int64_t& value);

}  // namespace nsl
