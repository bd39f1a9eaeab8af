#include "adapt/adapter_manifest.hpp"

#include <set>

#include "oap/core/atomic_file.hpp"
#include "oap/core/json_config.hpp"

namespace oap::detail {
namespace {

constexpr const char* kFormatName = "oap.adapter_manifest";

nlohmann::json to_json(const AdapterManifest& m) {
  nlohmann::json versions = nlohmann::json::array();
  for (const auto& r : m.versions) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : r.files)
      files.push_back({{"name", f.name}, {"size", f.size}, {"hash", f.hash}});
    versions.push_back({{"id", r.version.id},
                        {"created", format_rfc3339(r.version.created)},
                        {"parent", r.version.parent},
                        {"info", r.version.info},
                        {"files", std::move(files)}});
  }
  return {{"format", kFormatName},
          {"format_version", kAdapterManifestVersion},
          {"user", m.user},
          {"current", m.current},
          {"versions", std::move(versions)}};
}

// Throws ConfigError naming the JSON path of what is wrong; the caller adds the file name.
AdapterManifest from_json(const nlohmann::json& j) {
  JsonObjectReader r(j, "manifest");
  AdapterManifest m;
  auto format = r.get<std::string>("format", "");
  OAP_CHECK(format == kFormatName, ConfigError,
            "manifest.format is \"" + format + "\", expected \"" + kFormatName + "\"");
  auto format_version = r.get<int>("format_version", 0);
  OAP_CHECK(format_version == kAdapterManifestVersion, ConfigError,
            "manifest.format_version is " + std::to_string(format_version) + ", this oap reads " +
                std::to_string(kAdapterManifestVersion) + " (written by a newer oap?)");
  m.user = r.get<std::string>("user", "");
  std::string problem = user_id_problem(m.user);
  OAP_CHECK(problem.empty(), ConfigError, "manifest.user is not a valid user id: " + problem);
  m.current = r.get<std::string>("current", "");
  const auto& versions = r.raw("versions");
  OAP_CHECK(versions.is_array(), ConfigError,
            "manifest.versions: expected an array, got " + std::string(versions.type_name()));
  r.finish();

  std::set<std::string> ids;
  for (std::size_t i = 0; i < versions.size(); ++i) {
    std::string where = "manifest.versions[" + std::to_string(i) + "]";
    JsonObjectReader v(versions[i], where);
    AdapterVersionRecord record;
    record.version.id = v.get<std::string>("id", "");
    auto created = v.get<std::string>("created", "");
    auto parsed = parse_rfc3339(created);
    OAP_CHECK(parsed.has_value(), ConfigError,
              where + ".created: \"" + created + "\" is not an RFC 3339 time");
    record.version.created = *parsed;
    record.version.parent = v.get<std::string>("parent", "");
    OAP_CHECK(record.version.parent.empty() || is_content_hash(record.version.parent), ConfigError,
              where + ".parent: \"" + record.version.parent + "\" is not a version id");
    record.version.info = v.raw("info");
    const auto& files = v.raw("files");
    OAP_CHECK(files.is_array() && !files.empty(), ConfigError,
              where + ".files: expected a non-empty array");
    v.finish();
    for (std::size_t k = 0; k < files.size(); ++k) {
      std::string fwhere = where + ".files[" + std::to_string(k) + "]";
      JsonObjectReader f(files[k], fwhere);
      AdapterFileRecord file;
      file.name = f.get<std::string>("name", "");
      file.size = f.get<std::uint64_t>("size", 0);
      file.hash = f.get<std::string>("hash", "");
      f.finish();
      OAP_CHECK(!file.name.empty() && file.name != "." && file.name != ".." &&
                    file.name.find('/') == std::string::npos &&
                    file.name.find('\0') == std::string::npos,
                ConfigError, fwhere + ".name: \"" + file.name + "\" is not a plain file name");
      OAP_CHECK(is_content_hash(file.hash), ConfigError,
                fwhere + ".hash: \"" + file.hash + "\" is not a content hash");
      OAP_CHECK(record.files.empty() || record.files.back().name < file.name, ConfigError,
                fwhere + ".name: files are not in strictly increasing name order");
      record.files.push_back(std::move(file));
    }
    OAP_CHECK(is_content_hash(record.version.id), ConfigError,
              where + ".id: \"" + record.version.id + "\" is not a version id");
    OAP_CHECK(record.version.id == adapter_version_id(record.files), ConfigError,
              where + ".id: " + record.version.id + " does not match the version's file list");
    OAP_CHECK(ids.insert(record.version.id).second, ConfigError,
              where + ".id: version " + record.version.id + " is listed twice");
    m.versions.push_back(std::move(record));
  }
  OAP_CHECK(m.current.empty() || ids.count(m.current), ConfigError,
            "manifest.current: \"" + m.current + "\" is not one of the versions");
  return m;
}

}  // namespace

const AdapterVersionRecord* AdapterManifest::find(std::string_view id) const {
  for (const auto& r : versions) {
    if (r.version.id == id) return &r;
  }
  return nullptr;
}

AdapterManifest read_adapter_manifest(const std::filesystem::path& file) {
  try {
    return from_json(load_json_file(file));
  } catch (const Error& e) {
    // IoError (unreadable) or ConfigError (not JSON, or not a valid manifest).
    OAP_THROW(StoreError, "corrupt adapter manifest " + file.string() + ": " + e.what() +
                              " (restore the file, or delete the user's folder to drop the user)");
  }
}

void write_adapter_manifest(const std::filesystem::path& file, const AdapterManifest& manifest) {
  write_text_file_atomic(file, to_json(manifest).dump(1) + "\n");
}

}  // namespace oap::detail
