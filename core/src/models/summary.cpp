#include "kserde/summary.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <sstream>

#include "json/config_access.hpp"
#include "kserde/functional.hpp"

namespace kserde {

namespace {

struct Row {
  std::string name;
  std::string class_name;
  std::string output_shape;
  std::int64_t params = 0;
  std::int64_t trainable = 0;
  std::vector<std::string> connected_to;
  const Model* nested = nullptr;
};

std::string shapes_text(const std::vector<Shape>& shapes) {
  if (shapes.empty()) return "?";
  if (shapes.size() == 1) return shape_to_string(shapes[0]);
  std::string s = "[";
  for (std::size_t i = 0; i < shapes.size(); ++i) s += (i ? ", " : "") + shape_to_string(shapes[i]);
  return s + "]";
}

std::vector<Row> rows_of(const Model& model) {
  std::vector<Row> rows;
  const auto* functional = dynamic_cast<const Functional*>(&model);
  std::vector<Shape> s;
  bool seq_known = false;
  if (functional == nullptr) {
    try {
      s = model.input_shapes();
      seq_known = true;
    } catch (const std::exception&) {
    }
  }
  for (const auto& l : model.layers()) {
    Row r;
    r.name = l->name();
    r.class_name = l->class_name();
    r.params = l->count_params();
    r.trainable = l->count_trainable_params();
    r.nested = dynamic_cast<const Model*>(l.get());
    if (functional != nullptr) {
      for (const auto& n : functional->nodes()) {
        if (n.layer == l.get()) {
          r.output_shape = shapes_text(n.output_shapes);
          break;
        }
      }
      r.connected_to = functional->inbound_layer_names(*l);
    } else if (seq_known) {
      s = l->compute_output_shape(s);
      seq_known = !s.empty();
      r.output_shape = shapes_text(s);
    } else {
      r.output_shape = "?";
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string with_commas(std::int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string human_bytes(std::int64_t bytes) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(2);
  if (bytes < 1024) {
    o << bytes << " B";
  } else if (bytes < 1024 * 1024) {
    o << static_cast<double>(bytes) / 1024.0 << " KB";
  } else if (bytes < 1024LL * 1024 * 1024) {
    o << static_cast<double>(bytes) / (1024.0 * 1024.0) << " MB";
  } else {
    o << static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0) << " GB";
  }
  return o.str();
}

std::int64_t param_bytes(const Layer& l) {
  std::int64_t n = 0;
  for (const Variable& v : l.variables()) n += static_cast<std::int64_t>(v.value.nbytes());
  for (const TrackedChild& c : l.tracked_children()) {
    for (const Layer* x : c.layers) n += param_bytes(*x);
  }
  return n;
}

std::string pad(std::string s, std::size_t w, bool right = false) {
  // Column widths count characters; our text is ASCII except the box drawing.
  if (s.size() > w) s = s.substr(0, w - 1) + "~";
  std::string fill(w - s.size(), ' ');
  return right ? fill + s : s + fill;
}

void table(const Model& model, std::ostringstream& o, const std::string& indent) {
  const bool functional = dynamic_cast<const Functional*>(&model) != nullptr;
  const std::vector<Row> rows = rows_of(model);
  std::vector<std::size_t> w{34, 26, 14};
  if (functional) w.push_back(26);
  auto line = [&](const char* l, const char* m, const char* r, const char* h) {
    o << indent << l;
    for (std::size_t i = 0; i < w.size(); ++i) {
      for (std::size_t k = 0; k < w[i] + 2; ++k) o << h;
      o << (i + 1 < w.size() ? m : r);
    }
    o << "\n";
  };
  auto cells = [&](const std::vector<std::string>& c, const char* sep) {
    o << indent << sep;
    for (std::size_t i = 0; i < w.size(); ++i) {
      o << " " << pad(i < c.size() ? c[i] : "", w[i], i == 2) << " " << sep;
    }
    o << "\n";
  };
  line("┏", "┳", "┓", "━");
  std::vector<std::string> head{"Layer (type)", "Output Shape", "Param #"};
  if (functional) head.push_back("Connected to");
  cells(head, "┃");
  line("┡", "╇", "┩", "━");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::vector<std::string> c{r.name + " (" + r.class_name + ")", r.output_shape,
                               with_commas(r.params)};
    if (functional) c.push_back(r.connected_to.empty() ? "-" : r.connected_to[0]);
    cells(c, "│");
    for (std::size_t k = 1; functional && k < r.connected_to.size(); ++k) {
      cells({"", "", "", r.connected_to[k]}, "│");
    }
    if (r.nested != nullptr) {
      o << indent << "│   nested model '" << r.name << "':\n";
      table(*r.nested, o, indent + "│   ");
    }
    if (i + 1 < rows.size()) line("├", "┼", "┤", "─");
  }
  line("└", "┴", "┘", "─");
}

}  // namespace

std::string summary(const Model& model) {
  std::ostringstream o;
  o << "Model: \"" << model.name() << "\" (" << model.class_name() << ")\n";
  table(model, o, "");
  const std::int64_t total = model.count_params();
  const std::int64_t trainable = model.count_trainable_params();
  const std::int64_t bytes = param_bytes(model);
  o << " Total params: " << with_commas(total) << " (" << human_bytes(bytes) << ")\n";
  o << " Trainable params: " << with_commas(trainable) << "\n";
  o << " Non-trainable params: " << with_commas(total - trainable) << "\n";
  if (model.optimizer()) {
    std::int64_t n = 0;
    for (const Variable& v : model.optimizer()->variables) n += v.value.num_elements();
    o << " Optimizer: " << model.optimizer()->class_name() << " (" << with_commas(n)
      << " params in " << model.optimizer()->variables.size() << " variables)\n";
  }
  if (model.metadata()) {
    o << " Saved with Keras " << model.metadata()->keras_version << " - date: "
      << model.metadata()->date_saved << "\n";
  }
  const auto unknown = model.uncomputable_classes();
  if (!unknown.empty()) {
    o << " Not computable by kserde (carried through unchanged):";
    for (const auto& c : unknown) o << " " << c;
    o << "\n";
  }
  return o.str();
}

namespace {

JsonValue model_json(const Model& model, JsonDocument::AllocatorType& a) {
  JsonValue m(rapidjson::kObjectType);
  m.AddMember("name", cfg::str(model.name(), a), a);
  m.AddMember("class_name", cfg::str(model.class_name(), a), a);
  JsonValue layers(rapidjson::kArrayType);
  for (const Row& r : rows_of(model)) {
    JsonValue l(rapidjson::kObjectType);
    l.AddMember("name", cfg::str(r.name, a), a);
    l.AddMember("class_name", cfg::str(r.class_name, a), a);
    l.AddMember("output_shape", cfg::str(r.output_shape, a), a);
    l.AddMember("params", JsonValue(r.params), a);
    l.AddMember("trainable_params", JsonValue(r.trainable), a);
    JsonValue conn(rapidjson::kArrayType);
    for (const auto& c : r.connected_to) conn.PushBack(cfg::str(c, a), a);
    l.AddMember("connected_to", conn, a);
    if (r.nested != nullptr) l.AddMember("model", model_json(*r.nested, a), a);
    layers.PushBack(l, a);
  }
  m.AddMember("layers", layers, a);
  return m;
}

}  // namespace

std::string summary_json(const Model& model) {
  JsonDocument d;
  d.SetObject();
  auto& a = d.GetAllocator();
  JsonValue m = model_json(model, a);
  for (auto& member : m.GetObject()) {
    JsonValue k(member.name, a);
    JsonValue v(member.value, a);
    d.AddMember(k, v, a);
  }
  d.AddMember("total_params", JsonValue(model.count_params()), a);
  d.AddMember("trainable_params", JsonValue(model.count_trainable_params()), a);
  d.AddMember("non_trainable_params",
              JsonValue(model.count_params() - model.count_trainable_params()), a);
  JsonValue inputs(rapidjson::kArrayType);
  const auto names = model.input_names();
  const auto shapes = model.input_shapes();
  const auto dtypes = model.input_dtypes();
  for (std::size_t i = 0; i < names.size(); ++i) {
    JsonValue in(rapidjson::kObjectType);
    in.AddMember("name", cfg::str(names[i], a), a);
    in.AddMember("shape", cfg::from_shape(shapes[i], a), a);
    in.AddMember("dtype", cfg::str(dtype_name(dtypes[i]), a), a);
    inputs.PushBack(in, a);
  }
  d.AddMember("inputs", inputs, a);
  JsonValue outputs(rapidjson::kArrayType);
  for (const auto& n : model.output_names()) outputs.PushBack(cfg::str(n, a), a);
  d.AddMember("outputs", outputs, a);
  if (model.optimizer()) {
    JsonValue opt(rapidjson::kObjectType);
    opt.AddMember("class_name", cfg::str(model.optimizer()->class_name(), a), a);
    opt.AddMember("name", cfg::str(model.optimizer()->name(), a), a);
    opt.AddMember("variables", JsonValue(static_cast<std::uint64_t>(model.optimizer()->variables.size())), a);
    d.AddMember("optimizer", opt, a);
  } else {
    d.AddMember("optimizer", JsonValue(), a);
  }
  if (model.metadata()) {
    JsonValue md(rapidjson::kObjectType);
    md.AddMember("keras_version", cfg::str(model.metadata()->keras_version, a), a);
    md.AddMember("date_saved", cfg::str(model.metadata()->date_saved, a), a);
    d.AddMember("metadata", md, a);
  } else {
    d.AddMember("metadata", JsonValue(), a);
  }
  JsonValue unknown(rapidjson::kArrayType);
  for (const auto& c : model.uncomputable_classes()) unknown.PushBack(cfg::str(c, a), a);
  d.AddMember("not_computable", unknown, a);
  return to_pretty_json(d, 2);
}

}  // namespace kserde
