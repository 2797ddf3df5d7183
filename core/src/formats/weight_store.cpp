#include "formats/weight_store.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/io/mapped_file.hpp"
#include "ops/thread_pool.hpp"

namespace kserde::weights {

std::vector<Variable>& Saveable::variables() const {
  return layer != nullptr ? layer->variables() : optimizer->variables;
}

std::string vars_path(const std::string& inner_path) {
  return inner_path.empty() ? "vars" : inner_path + "/vars";
}

namespace {

void walk(Layer& layer, const std::string& path, std::set<const Layer*>& visited,
          std::vector<Saveable>& out) {
  out.push_back(Saveable{path, layer.name(), &layer, nullptr});
  visited.insert(&layer);
  const std::string prefix = path.empty() ? "" : path + "/";
  for (const TrackedChild& child : layer.tracked_children()) {
    if (child.is_list) {
      // Container walk: names from the class, deduplicated per container; the counter advances
      // even for objects already saved elsewhere.
      std::map<std::string, int> used;
      for (Layer* l : child.layers) {
        std::string name = snake_case(l->class_name());
        auto [it, fresh] = used.try_emplace(name, 0);
        if (!fresh) name += "_" + std::to_string(++it->second);
        if (!visited.count(l)) walk(*l, prefix + child.attribute + "/" + name, visited, out);
      }
    } else {
      for (Layer* l : child.layers) {
        if (!visited.count(l)) walk(*l, prefix + child.attribute, visited, out);
      }
    }
  }
}

}  // namespace

std::vector<Saveable> traverse(Model& model, bool include_optimizer) {
  std::vector<Saveable> out;
  std::set<const Layer*> visited;
  walk(model, "", visited, out);
  if (include_optimizer && model.optimizer()) {
    Optimizer& opt = *model.optimizer();
    out.push_back(Saveable{"optimizer", opt.name(), nullptr, &opt});
  }
  return out;
}

namespace {

bool is_index_name(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return s == "0" || s[0] != '0';
}

// Bytes of weights one weight source may read (LoadOptions::max_weight_bytes, max_tensor_rank),
// checked before a dataset is allocated or read.
class ReadBudget {
 public:
  explicit ReadBudget(const LoadOptions& options)
      : max_bytes_(options.max_weight_bytes), max_rank_(options.max_tensor_rank) {}
  Shape charge(const hdf5::Dataset& ds, const std::string& file) {
    const auto& dims = ds.shape();
    if (dims.size() > max_rank_) {
      throw LimitError(file + ": " + ds.path() + " has rank " + std::to_string(dims.size()) +
                       ", over the limit of " + std::to_string(max_rank_) +
                       " (LoadOptions::max_tensor_rank)");
    }
    Shape shape;
    for (std::uint64_t d : dims) {
      if (d > static_cast<std::uint64_t>(INT64_MAX)) {
        throw FormatError(file + ": " + ds.path() + ": dimension too large");
      }
      shape.push_back(static_cast<std::int64_t>(d));
    }
    const auto n = static_cast<std::uint64_t>(shape_num_elements(shape));
    const std::uint64_t elem = dtype_size(ds.dtype());
    const std::uint64_t bytes = elem != 0 && n > UINT64_MAX / elem ? UINT64_MAX : n * elem;
    if (bytes > max_bytes_ || used_ > max_bytes_ - bytes) {
      throw LimitError(file + ": " + ds.path() + " of shape " + shape_to_string(shape) + " holds " +
                       std::to_string(bytes) + " bytes; with the " + std::to_string(used_) +
                       " bytes already read this is over the limit of " +
                       std::to_string(max_bytes_) + " bytes (LoadOptions::max_weight_bytes)");
    }
    used_ += bytes;
    return shape;
  }

 private:
  std::uint64_t max_bytes_;
  std::uint32_t max_rank_;
  std::uint64_t used_ = 0;
};

// Below this a copy is not worth a thread hand-off.
constexpr std::size_t kParallelCopyBytes = std::size_t{4} << 20;
constexpr std::int64_t kCopyPart = std::int64_t{1} << 22;  // bytes per unit of the split

// Copies src (bytes of `source`) into dst in parts spread over the inference pool, dropping each
// part's file pages once copied: a copying load then holds one copy of the weights at any time,
// not the copy plus the mapped file.
void copy_and_release(std::span<std::byte> dst, std::span<const std::byte> src,
                      const io::ByteSource& source) {
  const auto size = static_cast<std::int64_t>(dst.size());
  auto copy = [&](std::int64_t begin, std::int64_t end) {
    const auto b = static_cast<std::size_t>(begin);
    const auto n = static_cast<std::size_t>(end - begin);
    std::memcpy(dst.data() + b, src.data() + b, n);
    io::release_pages(source, src.subspan(b, n));
  };
  if (dst.size() < kParallelCopyBytes) {
    copy(0, size);
    return;
  }
  const std::int64_t parts = (size + kCopyPart - 1) / kCopyPart;
  ops::parallel_for(parts, 1, static_cast<double>(size), [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) copy(p * kCopyPart, std::min(size, (p + 1) * kCopyPart));
  });
}

Tensor read_dataset(const hdf5::Dataset& ds, DType want, bool allow_borrow,
                    const io::ByteSource& source, ReadBudget& budget) {
  const Shape shape = budget.charge(ds, source.file_name);
  const DType stored = ds.dtype();
  if (allow_borrow && stored == want && ds.is_little_endian()) {
    if (auto e = ds.extent()) {
      const auto addr = reinterpret_cast<std::uintptr_t>(e->bytes.data());
      if (addr % dtype_size(stored) == 0 &&
          e->length == static_cast<std::uint64_t>(shape_num_elements(shape)) * dtype_size(stored)) {
        return Tensor::borrow(shape, stored, e->bytes.data(), source.owner);
      }
    }
  }
  // Keep the file's dtype; the variable's assign casts (as Keras does). Weights live as long as
  // the model: their storage stays out of the buffer cache.
  Tensor t = Tensor::standalone_zeros(shape, stored);
  const std::optional<hdf5::Extent> e = ds.is_little_endian() ? ds.extent() : std::nullopt;
  if (e && e->length == t.nbytes()) {
    // The common case, a contiguous little-endian dataset: copied in parallel parts (the page
    // faults of the fresh tensor are the larger cost, and they scale with threads).
    copy_and_release(t.mutable_bytes(), e->bytes, source);
  } else {
    ds.read(t.mutable_bytes(), stored);
  }
  return t;
}

class H5Source final : public WeightSource {
 public:
  H5Source(io::ByteSource source, const LoadOptions& options)
      : file_(hdf5::File::open(source, options.hdf5_limits)),
        source_(std::move(source)),
        borrow_(options.mmap_weights),
        budget_(options) {}

  std::optional<TensorList> read_vars(const std::string& inner_path,
                                      const std::vector<DType>& want) override {
    auto group = file_.root().find_group(vars_path(inner_path));
    if (!group && inner_path.rfind("layers", 0) == 0) {
      // tf.keras 2.13/2.14 preview files (spec §5.7).
      group = file_.root().find_group("_layer_checkpoint_dependencies" + inner_path.substr(6) +
                                      "/vars");
    }
    if (!group) return std::nullopt;
    return read_group(*group, want);
  }

  TensorList read_group(const hdf5::Group& group, const std::vector<DType>& want) {
    std::vector<std::string> names = group.member_names();
    std::size_t count = 0;
    for (const std::string& n : names) {
      if (!is_index_name(n)) {
        throw FormatError(source_.file_name + ": " + group.path() + " holds '" + n +
                          "'; a vars group holds only datasets named 0, 1, 2, ...");
      }
      ++count;
    }
    TensorList out;
    for (std::size_t i = 0; i < count; ++i) {
      auto ds = group.find_dataset(std::to_string(i));
      if (!ds) {
        throw FormatError(source_.file_name + ": " + group.path() + " has " +
                          std::to_string(count) + " entries but no dataset '" + std::to_string(i) +
                          "'");
      }
      const DType w = i < want.size() ? want[i] : ds->dtype();
      out.push_back(read_dataset(*ds, w, borrow_, source_, budget_));
    }
    return out;
  }

  std::string describe() const override { return source_.file_name; }
  hdf5::File& file() { return file_; }
  const io::ByteSource& source() const { return source_; }

 private:
  hdf5::File file_;
  io::ByteSource source_;
  bool borrow_;
  ReadBudget budget_;
};

// Sharded weights (spec §5.9): the index maps "/<path>/vars" to the shards holding its datasets;
// a layer's datasets may be split across shards.
class ShardedSource final : public WeightSource {
 public:
  ShardedSource(const std::filesystem::path& index, const LoadOptions& options)
      : index_(index), options_(options), budget_(options) {
    const std::string text = io::read_text_file(index, 64u << 20);
    doc_ = parse_json(text, index.string(), options.json_limits);
    const JsonValue* map = cfg::find(*doc_, "weight_map");
    if (map == nullptr || !map->IsObject()) {
      throw FormatError(index.string() + ": sharded weights index has no 'weight_map' object");
    }
    for (const auto& m : map->GetObject()) {
      std::vector<std::string> files;
      if (m.value.IsString()) {
        files.push_back(m.value.GetString());
      } else if (m.value.IsArray()) {
        for (const auto& f : m.value.GetArray()) {
          if (!f.IsString())
            throw FormatError(index.string() + ": weight_map values must be strings");
          files.push_back(f.GetString());
        }
      } else {
        throw FormatError(index.string() + ": weight_map values must be a file name or a list");
      }
      for (const std::string& f : files) check_shard_name(f);
      map_[m.name.GetString()] = files;
    }
  }

  std::optional<TensorList> read_vars(const std::string& inner_path,
                                      const std::vector<DType>& want) override {
    const std::string key = "/" + vars_path(inner_path);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    // Gather "i" -> dataset across the listed shards, first shard first.
    std::map<std::size_t, std::pair<H5Source*, hdf5::Dataset>> found;
    for (const std::string& f : it->second) {
      H5Source& shard = open_shard(f);
      auto group = shard.file().root().find_group(key.substr(1));
      if (!group) continue;
      for (const std::string& n : group->member_names()) {
        if (!is_index_name(n)) {
          throw FormatError(f + ": " + group->path() + " holds '" + n + "'");
        }
        const std::size_t i = std::stoul(n);
        if (!found.count(i)) found.emplace(i, std::make_pair(&shard, group->dataset(n)));
      }
    }
    TensorList out;
    for (std::size_t i = 0; i < found.size(); ++i) {
      auto f = found.find(i);
      if (f == found.end()) {
        throw FormatError(index_.string() + ": " + key + " is missing dataset " +
                          std::to_string(i) + " in every listed shard");
      }
      const DType w = i < want.size() ? want[i] : f->second.second.dtype();
      out.push_back(read_dataset(f->second.second, w, options_.mmap_weights,
                                 f->second.first->source(), budget_));
    }
    return out;
  }

  std::string describe() const override { return index_.string(); }

 private:
  void check_shard_name(const std::string& f) const {
    if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos ||
        f == "." || f == ".." || f.find('\0') != std::string::npos) {
      throw FormatError(index_.string() + ": shard name '" + f +
                        "' is not a plain file name beside the index; refused");
    }
  }

  H5Source& open_shard(const std::string& f) {
    auto it = shards_.find(f);
    if (it != shards_.end()) return *it->second;
    const auto path = index_.parent_path() / f;
    auto src = io::map_file(path);
    src.file_name = path.string();
    auto shard = std::make_unique<H5Source>(std::move(src), options_);
    return *shards_.emplace(f, std::move(shard)).first->second;
  }

  std::filesystem::path index_;
  LoadOptions options_;
  std::shared_ptr<JsonDocument> doc_;
  std::map<std::string, std::vector<std::string>> map_;
  std::map<std::string, std::unique_ptr<H5Source>> shards_;
  ReadBudget budget_;
};

}  // namespace

std::unique_ptr<WeightSource> open_h5(io::ByteSource source, const LoadOptions& options) {
  return std::make_unique<H5Source>(std::move(source), options);
}

std::unique_ptr<WeightSource> open_sharded(const std::filesystem::path& index,
                                           const LoadOptions& options) {
  return std::make_unique<ShardedSource>(index, options);
}

void load_into(Model& model, WeightSource& source, bool include_optimizer) {
  std::vector<std::string> failures;
  for (const Saveable& s : traverse(model, include_optimizer)) {
    std::vector<Variable>& vars = s.variables();
    std::vector<DType> want;
    for (const Variable& v : vars) want.push_back(v.value.dtype());
    auto values = source.read_vars(s.path, want);
    TensorList got = values ? std::move(*values) : TensorList{};
    const std::string where = source.describe() + ": /" + vars_path(s.path);
    if (s.optimizer != nullptr) {
      // Keras only warns on optimizer mismatches; kserde keeps the file's optimizer state as is.
      s.optimizer->variables.clear();
      for (std::size_t i = 0; i < got.size(); ++i) {
        s.optimizer->variables.push_back(Variable{std::to_string(i), got[i], false});
      }
      continue;
    }
    if (s.layer->accepts_any_weights()) {
      vars.clear();
      for (std::size_t i = 0; i < got.size(); ++i)
        vars.push_back(Variable{std::to_string(i), got[i], true});
      continue;
    }
    if (got.size() != vars.size()) {
      std::string expected;
      for (const Variable& v : vars) {
        expected += (expected.empty() ? "" : ", ") + v.name + shape_to_string(v.value.shape());
      }
      failures.push_back(where + ": " + s.layer->describe() + " expected " +
                         std::to_string(vars.size()) + " variables, but the file has " +
                         std::to_string(got.size()) + " (expected: [" + expected + "])");
      continue;
    }
    bool ok = true;
    for (std::size_t i = 0; i < got.size() && ok; ++i) {
      if (got[i].shape() != vars[i].value.shape()) {
        failures.push_back(where + "/" + std::to_string(i) + ": shape " +
                           shape_to_string(got[i].shape()) + " in file, " +
                           shape_to_string(vars[i].value.shape()) + " expected by " +
                           s.layer->describe() + " ('" + vars[i].name + "')");
        ok = false;
      }
    }
    if (!ok) continue;
    for (std::size_t i = 0; i < got.size(); ++i) vars[i].value = got[i].to(vars[i].value.dtype());
  }
  if (!failures.empty()) {
    std::string msg = "A total of " + std::to_string(failures.size()) +
                      " objects could not be loaded: " + failures.front();
    for (std::size_t i = 1; i < failures.size() && i < 5; ++i) msg += "; " + failures[i];
    throw ShapeError(msg);
  }
}

void describe_into(const Model& model, hdf5::Writer& writer, bool include_optimizer) {
  // The traversal needs mutable access only to hand out variables; nothing is modified here.
  Model& m = const_cast<Model&>(model);
  for (const Saveable& s : traverse(m, include_optimizer)) {
    hdf5::WriteGroup& g = writer.root().group(vars_path(s.path));
    g.attribute_string("name", s.display_name);
    const std::vector<Variable>& vars = s.variables();
    for (std::size_t i = 0; i < vars.size(); ++i) {
      const Tensor& t = vars[i].value;
      std::vector<std::uint64_t> shape(t.shape().begin(), t.shape().end());
      g.dataset(std::to_string(i), t.dtype(), shape, t.bytes());
    }
  }
}

}  // namespace kserde::weights
