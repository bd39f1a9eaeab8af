#pragma once
// The "text" of one JSON Lines record, as the tokenizer commands read their --jsonl input.

#include <string>

namespace oap::cli {

// Parses line as a JSON object and returns its string field "text". Throws std::runtime_error
// starting with `where` ("FILE:LINE") for a line that is not JSON or has no string "text".
std::string jsonl_text(const std::string& line, const std::string& where);

}  // namespace oap::cli
