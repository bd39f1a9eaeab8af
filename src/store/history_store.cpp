#include "oap/store/history_store.hpp"

#include "oap/core/error.hpp"
#include "oap/store/memory_store.hpp"
#include "oap/store/sqlite_store.hpp"

namespace oap {

std::unique_ptr<HistoryStore> open_store(std::string_view uri, const StoreOptions& options) {
  constexpr std::string_view kMemory = "memory://";
  constexpr std::string_view kSqlite = "sqlite://";
  if (uri == kMemory) return std::make_unique<MemoryStore>(options);
  if (uri.starts_with(kSqlite)) {
    std::string_view path = uri.substr(kSqlite.size());
    OAP_CHECK(!path.empty(), InvalidArgument,
              "store URI \"" + std::string(uri) +
                  "\" has no database path (expected sqlite:///abs/path.db or sqlite://rel.db)");
    return std::make_unique<SqliteStore>(std::filesystem::path(path), options);
  }
  OAP_THROW(InvalidArgument, "unknown store URI \"" + std::string(uri) +
                                 "\" (expected memory:// or sqlite:///path/to/file.db)");
}

}  // namespace oap
