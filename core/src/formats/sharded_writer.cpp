// Sharded weights, written the way Keras writes them (spec §5.9): `<base>_00000.weights.h5`, …
// beside a `.weights.json` index. Variables go in traversal order; a new shard starts when the
// next variable would push the current one past max_shard_size, so one layer's variables may be
// split (the continuation `vars` group carries no `name` attribute).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "formats/weight_store.hpp"
#include "kserde/error.hpp"
#include "kserde/hdf5/writer.hpp"
#include "kserde/io/atomic_file.hpp"
#include "kserde/io/byte_sink.hpp"

namespace kserde::weights {

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Python's repr of a float holding a whole byte count ("52520.0").
std::string python_float(std::uint64_t v) {
  if (v < 10'000'000'000'000'000ULL) return std::to_string(v) + ".0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", static_cast<double>(v));
  return buf;
}

struct MapEntry {
  std::string key;
  std::vector<std::string> shards;  // in order of first use
  std::size_t datasets = 0;
};

}  // namespace

std::filesystem::path shard_base(const std::filesystem::path& index) {
  std::string name = index.filename().string();
  for (const char* suffix : {".json", ".weights"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      name.resize(name.size() - s.size());
    }
  }
  return index.parent_path() / name;
}

void save_sharded(const Model& model, const std::filesystem::path& index,
                  const SaveOptions& options) {
  if (options.max_shard_size == 0) {
    throw ConfigError(index.string() +
                      ": a .weights.json file is a sharded weights index; set "
                      "SaveOptions::max_shard_size (bytes per shard) to write one");
  }
  if (!model.built()) {
    throw ConfigError(index.string() + ": You are saving a model that has not yet been built; "
                                       "build it (or give it an Input) first");
  }
  const std::uint64_t limit = options.max_shard_size;
  const std::string base = shard_base(index).filename().string();
  auto shard_name = [&](std::size_t i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "_%05zu", i);
    return base + buf + ".weights.h5";
  };

  std::vector<std::unique_ptr<hdf5::Writer>> shards;
  shards.push_back(std::make_unique<hdf5::Writer>());
  std::uint64_t current = 0, total = 0;
  std::vector<MapEntry> map;

  Model& m = const_cast<Model&>(model);  // the traversal only hands out variables
  for (const Saveable& s : traverse(m, true)) {
    const std::string path = vars_path(s.path);
    hdf5::WriteGroup* g = &shards.back()->root().group(path);
    g->attribute_string("name", s.display_name);
    const std::vector<Variable>& vars = s.variables();
    MapEntry* entry = nullptr;
    for (std::size_t i = 0; i < vars.size(); ++i) {
      const Tensor& t = vars[i].value;
      const std::uint64_t size = t.nbytes();
      if (size > limit) {
        throw ConfigError(index.string() + ": The size of /" + path + "/" + std::to_string(i) +
                          " (" + std::to_string(size) + " bytes) exceeds the maximum shard size (" +
                          std::to_string(limit) + " bytes); raise max_shard_size");
      }
      if (current + size > limit) {
        shards.push_back(std::make_unique<hdf5::Writer>());
        current = 0;
        g = &shards.back()->root().group(path);  // continuation: no `name` attribute
      }
      std::vector<std::uint64_t> shape(t.shape().begin(), t.shape().end());
      g->dataset(std::to_string(i), t.dtype(), shape, t.bytes());
      current += size;
      total += size;
      if (entry == nullptr) {
        map.push_back(MapEntry{"/" + path, {}, 0});
        entry = &map.back();
      }
      const std::string shard = shard_name(shards.size() - 1);
      if (entry->shards.empty() || entry->shards.back() != shard) entry->shards.push_back(shard);
      ++entry->datasets;
    }
  }

  // Index, indented like json.dump(..., indent=4).
  std::string json = "{\n    \"metadata\": {\n        \"total_size\": " + python_float(total) +
                     "\n    },\n    \"weight_map\": {";
  for (std::size_t i = 0; i < map.size(); ++i) {
    json += (i ? ",\n        " : "\n        ") + json_string(map[i].key) + ": ";
    if (map[i].datasets == 1) {
      json += json_string(map[i].shards[0]);
    } else {
      json += "[";
      for (std::size_t j = 0; j < map[i].shards.size(); ++j) {
        json += (j ? ",\n            " : "\n            ") + json_string(map[i].shards[j]);
      }
      json += "\n        ]";
    }
  }
  json += map.empty() ? "}\n}" : "\n    }\n}";

  const std::filesystem::path dir = index.parent_path();
  for (std::size_t i = 0; i < shards.size(); ++i) {
    io::AtomicFile out(dir / shard_name(i));
    {
      io::FileSink sink(out.temp_path().string());
      shards[i]->write(sink);
    }
    out.commit();
  }
  io::write_file_atomic(index, json);
}

}  // namespace kserde::weights
