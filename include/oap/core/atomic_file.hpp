#pragma once
// Atomic, durable file writes (temporary sibling, fsync, rename, fsync of the folder).

#include <filesystem>
#include <functional>
#include <ostream>
#include <string_view>

namespace oap {

// Calls write(stream) on a temporary file next to path, flushes and fsyncs it, renames it over
// path and fsyncs the folder, so that a reader (or a process after a crash) sees either the old
// file or the complete new one. The temporary file is removed if write throws. Throws IoError
// naming the path. Safe to call from several threads for different paths.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& write);

// write_file_atomic with the given bytes as the whole content.
void write_text_file_atomic(const std::filesystem::path& path, std::string_view text);

// fsyncs the file or folder at path: a file's bytes, or a folder's entries (which makes a file
// created in, or renamed into or out of, the folder durable). Throws IoError naming the path.
void sync_path(const std::filesystem::path& path);

}  // namespace oap
