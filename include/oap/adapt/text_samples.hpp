#pragma once
// Text samples for training an adapter offline: JSON Lines of {"text": "...", "weight": w}.

#include <filesystem>
#include <string>
#include <vector>

namespace oap {

// One training text and its weight in the loss. A plain value type.
struct TextSample {
  std::string text;     // non-empty
  double weight = 1.0;  // finite, >= 0
};

// Reads a JSON Lines file, one object per line: {"text": "..."} with an optional "weight"
// (default 1); other keys (an event's "user", "timestamp", ...) are ignored, so an events file
// with text works as it is. Blank lines are skipped. Throws IoError if the file cannot be read,
// ParseError naming the file, line and field for a line that is not such an object (missing or
// empty text, a weight that is not a finite number >= 0) and for a file without any sample.
std::vector<TextSample> read_text_samples(const std::filesystem::path& path);

}  // namespace oap
