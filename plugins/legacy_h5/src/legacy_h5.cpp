// The legacy full-model .h5 format (spec §6): load (config conversion, weights by position,
// training_config and optimizer_weights) and save (what Keras 3.16's model.save("x.h5") writes).
#include <rapidjson/document.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "kserde/deserializer.hpp"
#include "kserde/error.hpp"
#include "kserde/hdf5/reader.hpp"
#include "kserde/hdf5/writer.hpp"
#include "kserde/io/atomic_file.hpp"
#include "kserde/io/byte_sink.hpp"
#include "kserde/io/mapped_file.hpp"
#include "kserde/layer.hpp"
#include "kserde/model.hpp"
#include "kserde_plugins/legacy_h5.hpp"

namespace kserde::legacy_h5 {

namespace {

// Python's repr of a shape tuple: (784, 32), (32,), ().
std::string py_shape(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i > 0) out += ", ";
    out += s[i] < 0 ? std::string("None") : std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

std::string strip_nuls(std::string s) {
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

// ---- the legacy weight list of a layer (trainable_weights + non_trainable_weights)

struct LegacyWeight {
  Variable* variable = nullptr;
  std::string path;  // Keras's variable.path: "sequential/dense/kernel"
  bool trainable = true;
};

// The name scope a child's variables are created in: a Functional model's layers are built
// outside the model's scope ("dense/kernel"); a Sequential builds its layers inside its own
// ("sequential/dense/kernel"); sub-layers (cells, wrapped layers) inside their parent's.
std::string child_scope(const Layer& parent, const std::string& parent_scope, const Layer& child) {
  if (dynamic_cast<const Model*>(&parent) != nullptr &&
      dynamic_cast<const Sequential*>(&parent) == nullptr) {
    return child.name();
  }
  return parent_scope + "/" + child.name();
}

void collect(Layer& layer, const std::string& scope, bool parents_trainable,
             std::vector<LegacyWeight>& out, std::set<const Variable*>& seen) {
  const bool trainable = parents_trainable && layer.trainable();
  for (Variable& v : layer.variables()) {
    if (seen.insert(&v).second) out.push_back({&v, scope + "/" + v.name, trainable && v.trainable});
  }
  for (const TrackedChild& c : layer.tracked_children()) {
    for (Layer* child : c.layers) {
      collect(*child, child_scope(layer, scope, *child), trainable, out, seen);
    }
  }
}

std::vector<LegacyWeight> legacy_weights(Layer& layer, const std::string& scope) {
  std::vector<LegacyWeight> all;
  std::set<const Variable*> seen;
  collect(layer, scope, true, all, seen);
  std::vector<LegacyWeight> out;
  for (const LegacyWeight& w : all) {
    if (w.trainable) out.push_back(w);
  }
  for (const LegacyWeight& w : all) {
    if (!w.trainable) out.push_back(w);
  }
  return out;
}

// model.layers with the scope each one's variables live in.
std::vector<std::pair<Layer*, std::string>> model_layers(Model& model) {
  std::vector<std::pair<Layer*, std::string>> out;
  for (const std::shared_ptr<Layer>& l : model.layers()) {
    out.emplace_back(l.get(), child_scope(model, model.name(), *l));
  }
  return out;
}

// The model's own variables (top_level_model_weights).
std::vector<LegacyWeight> top_level_weights(Model& model) {
  std::vector<LegacyWeight> out;
  for (Variable& v : model.variables()) {
    if (v.trainable) out.push_back({&v, model.name() + "/" + v.name, true});
  }
  for (Variable& v : model.variables()) {
    if (!v.trainable) out.push_back({&v, model.name() + "/" + v.name, false});
  }
  return out;
}

// ---- attributes

// A list attribute as Keras reads it: `name`, or `name0`, `name1`, ... when split; strings
// (fixed- or variable-length, either charset); an empty float64 array is an empty list.
std::vector<std::string> read_names(const hdf5::Group& g, const std::string& attr,
                                    const std::string& source) {
  auto decode = [&](const hdf5::Attribute& a) {
    std::vector<std::string> out;
    if (a.is_string()) {
      for (const std::string& s : a.as_strings()) out.push_back(strip_nuls(s));
      return out;
    }
    if (a.as_doubles().empty()) return out;
    throw FormatError(source + ": " + g.path() + " attribute '" + a.name() +
                      "' must be a list of strings");
  };
  if (g.has_attribute(attr)) return decode(g.attribute(attr));
  std::vector<std::string> out;
  for (std::size_t i = 0; g.has_attribute(attr + std::to_string(i)); ++i) {
    for (std::string& s : decode(g.attribute(attr + std::to_string(i)))) out.push_back(std::move(s));
  }
  return out;
}

std::string read_text_attribute(const hdf5::Group& g, const std::string& attr,
                                const std::string& source) {
  hdf5::Attribute a = g.attribute(attr);
  if (!a.is_string()) {
    throw FormatError(source + ": attribute '" + attr + "' must be a string (JSON text)");
  }
  return strip_nuls(a.as_string());
}

// save_attributes_to_hdf5_group: lists over 64512 bytes (as a NumPy fixed-width byte array)
// are split with np.array_split into name0, name1, ...
void write_names(hdf5::WriteGroup& g, const std::string& attr,
                 const std::vector<std::string>& names, const std::string& where) {
  if (names.empty()) {
    g.attribute_doubles(attr, {});
    return;
  }
  std::size_t itemsize = 1;
  for (const std::string& n : names) {
    if (n.size() > kAttributeLimit) {
      throw ConfigError(where + ": The following attributes cannot be saved to HDF5 file because "
                                "they are larger than 64512 bytes: " + n.substr(0, 80) + "...");
    }
    itemsize = std::max(itemsize, n.size());
  }
  const std::size_t n = names.size();
  std::size_t k = 1;
  while (((n + k - 1) / k) * itemsize > kAttributeLimit) ++k;
  if (k == 1) {
    g.attribute_strings(attr, names);
    return;
  }
  std::size_t pos = 0;
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t len = n / k + (i < n % k ? 1 : 0);
    std::vector<std::string> part(names.begin() + static_cast<std::ptrdiff_t>(pos),
                                  names.begin() + static_cast<std::ptrdiff_t>(pos + len));
    g.attribute_strings(attr + std::to_string(i), part);
    pos += len;
  }
}

// ---- datasets

Tensor read_tensor(const hdf5::Dataset& ds, const std::string& source) {
  Shape shape;
  for (std::uint64_t d : ds.shape()) {
    if (d > static_cast<std::uint64_t>(INT64_MAX)) {
      throw FormatError(source + ": " + ds.path() + ": dimension too large");
    }
    shape.push_back(static_cast<std::int64_t>(d));
  }
  const DType dt = ds.dtype();
  Tensor t(shape, dt);
  ds.read(t.mutable_bytes(), dt);
  return t;
}

void write_dataset(hdf5::WriteGroup& g, const std::string& name, const Tensor& t,
                   const std::string& where) {
  if (name.empty() || name.front() == '/' || name.back() == '/' ||
      name.find("//") != std::string::npos) {
    throw ConfigError(where + ": weight name '" + name + "' is not a valid HDF5 path");
  }
  std::vector<std::uint64_t> shape(t.shape().begin(), t.shape().end());
  const auto slash = name.rfind('/');
  hdf5::WriteGroup& parent = slash == std::string::npos ? g : g.group(name.substr(0, slash));
  parent.dataset(slash == std::string::npos ? name : name.substr(slash + 1), t.dtype(), shape,
                 t.bytes());
}

// ---- loading weights by position (§6.2)

struct SavedLayer {
  std::string name;
  std::vector<std::string> weight_names;
  hdf5::Group group;
};

void load_by_position(Model& model, const hdf5::Group& g, const std::string& source) {
  std::vector<std::pair<Layer*, std::vector<LegacyWeight>>> filtered;
  for (auto& [layer, scope] : model_layers(model)) {
    auto w = legacy_weights(*layer, scope);
    if (!w.empty()) filtered.emplace_back(layer, std::move(w));
  }
  std::vector<SavedLayer> saved;
  for (const std::string& name : read_names(g, "layer_names", source)) {
    hdf5::Group lg = g.group(name);
    auto wn = read_names(lg, "weight_names", source);
    if (!wn.empty()) saved.push_back({name, std::move(wn), lg});
  }
  if (saved.size() != filtered.size()) {
    throw ShapeError(source + ": Layer count mismatch when loading weights from file. Model "
                              "expected " + std::to_string(filtered.size()) + " layers, found " +
                     std::to_string(saved.size()) + " saved layers.");
  }
  // Everything is read and checked before anything is assigned.
  std::vector<std::pair<Variable*, Tensor>> assign;
  for (std::size_t k = 0; k < saved.size(); ++k) {
    const SavedLayer& s = saved[k];
    const auto& [layer, symbolic] = filtered[k];
    if (s.weight_names.size() != symbolic.size()) {
      throw ShapeError(source + ": Weight count mismatch for layer #" + std::to_string(k) +
                       " (named " + layer->name() + " in the current model, " + s.name +
                       " in the save file). Layer expects " + std::to_string(symbolic.size()) +
                       " weight(s). Received " + std::to_string(s.weight_names.size()) +
                       " saved weight(s)");
    }
    for (std::size_t i = 0; i < symbolic.size(); ++i) {
      Tensor value = read_tensor(s.group.dataset(s.weight_names[i]), source);
      const Shape& expected = symbolic[i].variable->value.shape();
      if (value.shape() != expected) {
        throw ShapeError(source + ": Shape mismatch in layer #" + std::to_string(k) + " (named " +
                         layer->name() + ")for weight " + symbolic[i].path +
                         ". Weight expects shape " + py_shape(expected) +
                         ". Received saved weight with shape " + py_shape(value.shape()));
      }
      assign.emplace_back(symbolic[i].variable, std::move(value));
    }
  }
  if (auto top = g.find_group("top_level_model_weights")) {
    auto names = read_names(*top, "weight_names", source);
    auto symbolic = top_level_weights(model);
    if (names.size() != symbolic.size()) {
      throw ShapeError(source + ": Weight count mismatch for top-level weights when loading "
                                "weights from file. Model expects " +
                       std::to_string(symbolic.size()) + " top-level weight(s). Received " +
                       std::to_string(names.size()) + " saved top-level weight(s)");
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
      Tensor value = read_tensor(top->dataset(names[i]), source);
      const Shape& expected = symbolic[i].variable->value.shape();
      if (value.shape() != expected) {
        throw ShapeError(source + ": Shape mismatch in top-level model for weight " +
                         symbolic[i].path + ". Weight expects shape " + py_shape(expected) +
                         ". Received saved weight with shape " + py_shape(value.shape()));
      }
      assign.emplace_back(symbolic[i].variable, std::move(value));
    }
  }
  for (auto& [var, value] : assign) var->value = value.to(var->value.dtype());
}

hdf5::File open_file(const std::filesystem::path& path, const LoadOptions& options) {
  io::ByteSource src = io::map_file(path);
  src.file_name = path.string();
  if (!hdf5::superblock_offset(src.bytes)) {
    throw FormatError(path.string() +
                      ": not an HDF5 file (no HDF5 signature at offset 0 or past a user block)");
  }
  return hdf5::File::open(std::move(src), options.hdf5_limits);
}

// ---- optimizer weight names for files written from models whose optimizer variables carry no
// Keras path (e.g. loaded from a .keras file, where they are just "0", "1", ...)

std::vector<std::string> slot_names(const std::string& cls, std::size_t per_variable) {
  if (cls == "Adam" || cls == "AdamW" || cls == "Nadam") return {"momentum", "velocity"};
  if (cls == "Adamax") return {"m", "u"};
  if (cls == "SGD" || cls == "Lion") return {"momentum"};
  if (cls == "RMSprop") return per_variable == 2 ? std::vector<std::string>{"velocity", "momentum"}
                                                 : std::vector<std::string>{"velocity"};
  if (cls == "Adagrad") return {"accumulator"};
  if (cls == "Adadelta") return {"accumulated_grad", "accumulated_delta_var"};
  if (cls == "Ftrl") return {"accumulator", "linear"};
  return {};
}

std::vector<std::string> optimizer_weight_names(Model& model, const Optimizer& opt) {
  const std::vector<Variable>& vars = opt.variables;
  std::vector<std::string> names(vars.size());
  bool have_paths = !vars.empty();
  for (const Variable& v : vars) have_paths = have_paths && v.name.find('/') != std::string::npos;
  if (have_paths) {
    for (std::size_t i = 0; i < vars.size(); ++i) names[i] = vars[i].name;
    return names;
  }
  const std::string prefix = (opt.name().empty() ? std::string("optimizer") : opt.name()) + "/";
  std::size_t i = 0;
  if (i < vars.size() && vars[i].value.rank() == 0 && is_integer(vars[i].value.dtype())) {
    names[i++] = prefix + "iteration";
  }
  if (i < vars.size() && vars[i].value.rank() == 0 && is_floating(vars[i].value.dtype())) {
    names[i++] = prefix + "learning_rate";
  }
  // model.trainable_variables, in tracking order.
  std::vector<std::string> trainable;
  for (auto& [layer, scope] : model_layers(model)) {
    for (const LegacyWeight& w : legacy_weights(*layer, scope)) {
      if (w.trainable) trainable.push_back(w.path);
    }
  }
  const std::size_t rest = vars.size() - i;
  if (!trainable.empty() && rest % trainable.size() == 0 && rest > 0) {
    const std::size_t k = rest / trainable.size();
    auto slots = slot_names(opt.class_name(), k);
    for (std::size_t t = 0; t < trainable.size(); ++t) {
      std::string base = trainable[t];
      std::replace(base.begin(), base.end(), '/', '_');
      for (std::size_t s = 0; s < k; ++s) {
        names[i++] = prefix + base + "_" + (s < slots.size() ? slots[s] : "slot" + std::to_string(s));
      }
    }
  }
  for (; i < vars.size(); ++i) names[i] = prefix + "variable_" + std::to_string(i);
  return names;
}

// ---- the format

class LegacyH5Format final : public Serializer {
 public:
  std::string name() const override { return kFormatName; }
  std::vector<std::string> extensions() const override { return {".h5", ".hdf5"}; }
  bool sniff(const std::filesystem::path& path, std::span<const std::byte> head,
             bool is_directory) const override {
    if (is_directory || !hdf5::has_signature(head)) return false;
    const std::string n = path.filename().string();
    // The weights-only .weights.h5 belongs to the built-in weights format.
    return !(n.size() >= 11 && n.compare(n.size() - 11, 11, ".weights.h5") == 0);
  }

  std::shared_ptr<Model> load(const std::filesystem::path& path,
                              const LoadOptions& options) const override {
    const std::string source = path.string();
    hdf5::File file = open_file(path, options);
    const hdf5::Group root = file.root();
    if (!root.has_attribute("model_config")) {
      throw FormatError(source + ": No model config found in the file at " + source + ".");
    }
    auto legacy = parse_json(read_text_attribute(root, "model_config", source),
                             source + ": model_config", options.json_limits);
    if (!legacy->IsObject()) throw ConfigError(source + ": model_config must hold a JSON object");
    std::vector<std::string> unknown;
    auto dict = to_keras3_config(*legacy, options, source + ": model_config", &unknown);

    std::shared_ptr<Layer> layer;
    {
      Deserializer ctx(options, source, /*from_file=*/false);
      try {
        layer = ctx.layer(*dict);
      } catch (const UnknownObjectError& e) {
        if (unknown.empty()) throw;
        throw UnknownObjectError(source + ": Unknown layer: '" + unknown.front() +
                                 "'. Please ensure you are using a "
                                 "`keras.utils.custom_object_scope` and that this object is "
                                 "included in the scope. (" + e.what() + ")");
      }
    }
    auto model = std::dynamic_pointer_cast<Model>(layer);
    if (!model) {
      throw ConfigError(source + ": model_config describes a " + layer->class_name() +
                        " layer, not a model");
    }
    auto weights = root.find_group("model_weights");
    if (!weights) throw FormatError(source + ": the file has no /model_weights group");
    load_by_position(*model, *weights, source);

    if (options.compile && root.has_attribute("training_config")) {
      auto tc = parse_json(read_text_attribute(root, "training_config", source),
                           source + ": training_config", options.json_limits);
      auto cc = compile_config_from_training_config(*tc, source + ": training_config");
      check_no_lambda(*cc, source + ": training_config", options.safe_mode);
      model->set_compile_config(cc);
      auto opt_it = cc->FindMember("optimizer");
      if (opt_it != cc->MemberEnd() && opt_it->value.IsObject()) {
        Optimizer o;
        o.object_dict = std::make_shared<JsonDocument>();
        o.object_dict->CopyFrom(opt_it->value, o.object_dict->GetAllocator());
        if (auto ow = root.find_group("optimizer_weights")) {
          for (const std::string& n : read_names(*ow, "weight_names", source)) {
            o.variables.push_back(Variable{n, read_tensor(ow->dataset(n), source), false});
          }
        }
        model->optimizer() = std::move(o);
      }
    }
    if (root.has_attribute("keras_version")) {
      ModelMetadata m;
      m.keras_version = read_text_attribute(root, "keras_version", source);
      model->metadata() = m;
    }
    return model;
  }

  void load_weights(Model& model, const std::filesystem::path& path,
                    const LoadOptions& options) const override {
    const std::string source = path.string();
    hdf5::File file = open_file(path, options);
    hdf5::Group root = file.root();
    if (!root.has_attribute("layer_names") && !root.has_attribute("layer_names0")) {
      auto mw = root.find_group("model_weights");
      if (!mw) {
        throw FormatError(source + ": neither a root `layer_names` attribute nor a "
                                   "/model_weights group: not a legacy Keras weights file");
      }
      root = *mw;
    }
    load_by_position(model, root, source);
  }

  void save(const Model& model_in, const std::filesystem::path& path,
            const SaveOptions&) const override {
    // Collecting variables needs mutable access; nothing is modified.
    Model& model = const_cast<Model&>(model_in);
    const std::string where = path.string();
    const std::string model_config = to_json(*to_legacy_config(*model.to_object_dict()));
    std::string training;
    if (model.is_compiled() && model.optimizer()) {
      if (auto tc = training_config(model)) training = to_json(*tc);
    }

    hdf5::Writer h5;
    hdf5::WriteGroup& root = h5.root();
    root.attribute_string("keras_version", kKerasVersion);
    root.attribute_string("backend", kBackend);
    root.attribute_string("model_config", model_config, /*ascii=*/true);
    if (!training.empty()) root.attribute_string("training_config", training, /*ascii=*/true);

    hdf5::WriteGroup& mw = root.group("model_weights");
    auto layers = model_layers(model);
    std::vector<std::string> layer_names;
    for (const auto& [layer, scope] : layers) layer_names.push_back(layer->name());
    write_names(mw, "layer_names", layer_names, where);
    mw.attribute_string("backend", kBackend, /*ascii=*/true);
    mw.attribute_string("keras_version", kKerasVersion, /*ascii=*/true);

    std::vector<std::pair<Layer*, std::string>> sorted = layers;
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.first->name() < b.first->name();
    });
    std::set<std::string> group_names;
    for (const auto& [layer, scope] : sorted) {
      const std::string& n = layer->name();
      if (n.empty() || n.find('/') != std::string::npos || n == "top_level_model_weights") {
        throw ConfigError(where + ": layer name '" + n + "' cannot name an HDF5 group");
      }
      if (!group_names.insert(n).second) {
        throw ConfigError(where + ": two layers are named '" + n +
                          "'; layer names must be unique to save a legacy .h5 file");
      }
      write_weights(mw.group(n), legacy_weights(*layer, scope), where);
    }
    write_weights(mw.group("top_level_model_weights"), top_level_weights(model), where);

    if (model.optimizer() && !model.optimizer()->variables.empty()) {
      const Optimizer& opt = *model.optimizer();
      hdf5::WriteGroup& og = root.group("optimizer_weights");
      auto names = optimizer_weight_names(model, opt);
      write_names(og, "weight_names", names, where);
      for (std::size_t i = 0; i < names.size(); ++i) {
        write_dataset(og, names[i], opt.variables[i].value, where);
      }
    }

    io::AtomicFile out(path);
    {
      io::FileSink sink(out.temp_path().string());
      h5.write(sink);
    }
    out.commit();
  }

 private:
  static void write_weights(hdf5::WriteGroup& g, const std::vector<LegacyWeight>& weights,
                            const std::string& where) {
    std::vector<std::string> names;
    for (const LegacyWeight& w : weights) names.push_back(w.path);
    write_names(g, "weight_names", names, where);
    for (const LegacyWeight& w : weights) write_dataset(g, w.path, w.variable->value, where);
  }
};

}  // namespace

SerializerPtr make_format() { return std::make_shared<LegacyH5Format>(); }

}  // namespace kserde::legacy_h5
