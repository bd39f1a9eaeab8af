#include "oap/adapt/adapter_store.hpp"

#include "adapt/directory_adapter_store.hpp"

namespace oap {

std::unique_ptr<AdapterStore> open_adapter_store(const std::filesystem::path& root,
                                                 const AdapterStoreOptions& options) {
  return std::make_unique<detail::DirectoryAdapterStore>(root, options);
}

}  // namespace oap
