// Functional models. Reconstruction follows Keras (spec §3.8): create every layer, then sweep the
// layer list repeatedly, processing each layer's pending calls in order; a call whose inputs do
// not exist yet is postponed; a sweep without progress means loops or disconnected nodes.
#include "kserde/functional.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "json/config_access.hpp"
#include "kserde/deserializer.hpp"
#include "kserde/error.hpp"
#include "kserde/object_registry.hpp"
#include "layers/input_layer.hpp"
#include "models/build_check.hpp"
#include "models/layer_call.hpp"

namespace kserde {

namespace {

struct RawRef {
  std::string layer;
  std::size_t node = 0;
  std::size_t tensor = 0;
};

const bool kTrue = true;
const bool kFalse = false;

Tensor scalar_int(std::int64_t v) {
  Tensor t({}, DType::Int64);
  t.mutable_values<std::int64_t>()[0] = v;
  return t;
}

bool is_keras_tensor(const JsonValue& v) {
  return cfg::is_marker(v, "__keras_tensor__");
}

RawRef history_of(const JsonValue& kt, const std::string& where) {
  const JsonValue* c = cfg::find(kt, "config");
  const JsonValue* h = c != nullptr ? cfg::find(*c, "keras_history") : nullptr;
  if (h == nullptr || !h->IsArray() || h->Size() < 3 || !(*h)[0].IsString() ||
      !(*h)[1].IsUint64() || !(*h)[2].IsUint64()) {
    throw ConfigError(where + ": a __keras_tensor__ without a valid keras_history");
  }
  return {(*h)[0].GetString(), static_cast<std::size_t>((*h)[1].GetUint64()),
          static_cast<std::size_t>((*h)[2].GetUint64())};
}

// An object's members sorted by name (Python's sorted() of the dict's keys: code point order,
// which byte order of UTF-8 matches). Names are taken whole: one may hold a NUL character, so
// looking members up again by a C string could miss.
std::vector<std::pair<std::string, const JsonValue*>> sorted_members(const JsonValue& v) {
  std::vector<std::pair<std::string, const JsonValue*>> members;
  for (const auto& m : v.GetObject()) {
    members.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()), &m.value);
  }
  std::sort(members.begin(), members.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return members;
}

// Every tensor reference inside a (nested) args value, in flattening order (dicts by sorted key).
void collect_refs(const JsonValue& v, const std::string& where, std::vector<RawRef>& out,
                  int depth = 0) {
  if (depth > 64) throw ConfigError(where + ": node arguments nested too deeply");
  if (is_keras_tensor(v)) {
    out.push_back(history_of(v, where));
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) collect_refs(e, where, out, depth + 1);
  } else if (v.IsObject() && !cfg::find(v, "class_name")) {
    for (const auto& [key, value] : sorted_members(v)) collect_refs(*value, where, out, depth + 1);
  }
}

// A leaf of input_layers/output_layers: [name, node_index, tensor_index].
bool is_leaf(const JsonValue& v) {
  return v.IsArray() && v.Size() == 3 && v[0].IsString() && v[1].IsUint64() && v[2].IsUint64();
}

void flatten_io(const JsonValue& v, std::vector<RawRef>& out, std::vector<std::string>& keys,
                const std::string& prefix, const std::string& where, int depth = 0) {
  if (depth > 64) throw ConfigError(where + ": input/output structure nested too deeply");
  if (is_leaf(v)) {
    out.push_back({v[0].GetString(), static_cast<std::size_t>(v[1].GetUint64()),
                   static_cast<std::size_t>(v[2].GetUint64())});
    keys.push_back(prefix.empty() ? std::string(v[0].GetString()) : prefix);
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) flatten_io(e, out, keys, prefix, where, depth + 1);
  } else if (v.IsObject()) {
    for (const auto& [key, value] : sorted_members(v)) {
      flatten_io(*value, out, keys, key, where, depth + 1);
    }
  } else {
    throw ConfigError(where + ": input_layers/output_layers entries must be [name, node, tensor]");
  }
}

}  // namespace

Functional::Functional(std::shared_ptr<JsonDocument> d, Deserializer& ctx) : Model(std::move(d)) {
  const std::string where = ctx.source() + ": model '" + name() + "'";
  const JsonValue& c = config();
  const JsonValue* list = cfg::find(c, "layers");
  if (list == nullptr || !list->IsArray())
    throw ConfigError(where + ": config has no 'layers' list");

  std::map<std::string, std::size_t> by_name;
  for (const auto& entry : list->GetArray()) {
    if (!entry.IsObject()) throw ConfigError(where + ": 'layers' entries must be objects");
    Entry e;
    e.layer = ctx.layer(entry);
    std::string lname = e.layer->name();
    if (const JsonValue* n = cfg::find(entry, "name"); n != nullptr && n->IsString()) {
      lname = n->GetString();
    }
    if (by_name.count(lname)) {
      throw ConfigError(where + ": The name \"" + lname +
                        "\" is used 2 times in the model. All operation names should be unique.");
    }
    e.inbound_nodes = std::make_shared<JsonDocument>();
    if (const JsonValue* ib = cfg::find(entry, "inbound_nodes"); ib != nullptr) {
      if (!ib->IsArray())
        throw ConfigError(where + ": layer '" + lname + "': inbound_nodes must be a list");
      e.inbound_nodes->CopyFrom(*ib, e.inbound_nodes->GetAllocator());
    } else {
      e.inbound_nodes->SetArray();
    }
    by_name[lname] = entries_.size();
    entries_.push_back(std::move(e));
  }

  // Input layers have one implicit node.
  for (Entry& e : entries_) {
    if (auto* in = dynamic_cast<InputLayer*>(e.layer.get())) {
      Node n;
      n.layer = in;
      n.output_shapes = {in->batch_shape()};
      e.node_ids.push_back(nodes_.size());
      nodes_.push_back(std::move(n));
    }
  }

  auto resolve = [&](const RawRef& r, const std::string& ctx_where) -> std::optional<TensorRef> {
    auto it = by_name.find(r.layer);
    if (it == by_name.end()) throw ConfigError(ctx_where + ": Unknown layer: " + r.layer);
    const Entry& e = entries_[it->second];
    if (r.node >= e.node_ids.size()) return std::nullopt;
    const Node& n = nodes_[e.node_ids[r.node]];
    if (r.tensor >= n.num_outputs) {
      throw ConfigError(ctx_where + ": refers to output " + std::to_string(r.tensor) + " of '" +
                        r.layer + "', which has " + std::to_string(n.num_outputs));
    }
    return TensorRef{e.node_ids[r.node], r.tensor};
  };

  std::vector<std::size_t> processed(entries_.size(), 0);
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (!entries_[i].node_ids.empty()) processed[i] = entries_[i].inbound_nodes->Size();
  }
  bool progress = true;
  auto pending = [&] {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (processed[i] < entries_[i].inbound_nodes->Size()) return true;
    }
    return false;
  };
  while (pending()) {
    if (!progress) {
      throw ConfigError(where +
                        ": Invalid Functional model configuration. The graph of the "
                        "Functional model either has loops or disconnected nodes");
    }
    progress = false;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      Entry& e = entries_[i];
      while (processed[i] < e.inbound_nodes->Size()) {
        const JsonValue& node_json =
            (*e.inbound_nodes)[static_cast<rapidjson::SizeType>(processed[i])];
        const std::string node_where =
            where + ": layer '" + e.layer->name() + "' call " + std::to_string(processed[i]);
        std::vector<RawRef> args;
        std::map<std::string, RawRef> kwargs;
        std::map<std::string, Tensor> constants;
        std::vector<std::optional<RawRef>> mask_list;
        if (node_json.IsObject()) {
          if (const JsonValue* a = cfg::find(node_json, "args")) collect_refs(*a, node_where, args);
          if (const JsonValue* k = cfg::find(node_json, "kwargs"); k != nullptr && k->IsObject()) {
            for (const auto& m : k->GetObject()) {
              std::vector<RawRef> refs;
              collect_refs(m.value, node_where, refs);
              if (std::string_view(m.name.GetString()) == "mask" && m.value.IsArray()) {
                // mask=[q_mask, None]: one entry per positional input, None kept.
                for (const auto& item : m.value.GetArray()) {
                  if (is_keras_tensor(item)) {
                    mask_list.emplace_back(history_of(item, node_where));
                  } else {
                    mask_list.emplace_back(std::nullopt);
                  }
                }
                continue;
              }
              if (refs.empty() && (m.value.IsBool() || m.value.IsNumber())) {
                constants[m.name.GetString()] =
                    m.value.IsBool()
                        ? Tensor::from_bytes({}, DType::Bool,
                                             std::as_bytes(std::span<const bool>(
                                                 m.value.GetBool() ? &kTrue : &kFalse, 1)))
                    : m.value.IsInt64()
                        ? scalar_int(m.value.GetInt64())
                        : Tensor::from_floats(
                              {}, std::vector<float>{static_cast<float>(m.value.GetDouble())});
              } else if (refs.size() == 1) {
                kwargs[m.name.GetString()] = refs[0];
              } else if (refs.size() > 1) {
                // A list of tensors by keyword (e.g. initial_state): passed positionally after.
                for (const RawRef& r : refs) args.push_back(r);
              }
            }
          }
        } else if (node_json.IsArray()) {
          // Keras 2 form: [[name, node, tensor, {kwargs}], ...].
          for (const auto& ref : node_json.GetArray()) {
            if (!ref.IsArray() || ref.Size() < 3 || !ref[0].IsString() || !ref[1].IsUint64() ||
                !ref[2].IsUint64()) {
              throw ConfigError(node_where + ": malformed legacy inbound node");
            }
            args.push_back({ref[0].GetString(), static_cast<std::size_t>(ref[1].GetUint64()),
                            static_cast<std::size_t>(ref[2].GetUint64())});
          }
        } else {
          throw ConfigError(node_where + ": an inbound node must be an object or a list");
        }
        Node n;
        n.layer = e.layer.get();
        n.call_index = processed[i];
        n.constant_kwargs = std::move(constants);
        if (node_json.IsObject()) {
          if (const JsonValue* a = cfg::find(node_json, "args")) {
            n.call_args = std::make_shared<JsonDocument>();
            n.call_args->CopyFrom(*a, n.call_args->GetAllocator());
          }
        }
        bool ready = true;
        for (const RawRef& r : args) {
          auto t = resolve(r, node_where);
          if (!t) {
            ready = false;
            break;
          }
          n.inputs.push_back(*t);
        }
        for (const auto& [k, r] : kwargs) {
          if (!ready) break;
          auto t = resolve(r, node_where);
          if (!t) {
            ready = false;
            break;
          }
          n.kwargs[k] = *t;
        }
        for (const auto& r : mask_list) {
          if (!ready) break;
          if (!r) {
            n.mask_list.emplace_back(std::nullopt);
            continue;
          }
          auto t = resolve(*r, node_where);
          if (!t) {
            ready = false;
            break;
          }
          n.mask_list.emplace_back(*t);
        }
        if (!ready) break;  // postponed to a later sweep
        std::vector<Shape> in_shapes;
        bool known = true;
        for (const TensorRef& t : n.inputs) {
          const Node& src = nodes_[t.node];
          if (t.tensor < src.output_shapes.size()) {
            in_shapes.push_back(src.output_shapes[t.tensor]);
          } else {
            known = false;
          }
        }
        if (known && in_shapes.empty()) {
          throw ConfigError(node_where + ": " + e.layer->describe() +
                            " is called on no tensor; every node needs at least one input");
        }
        if (known && !e.layer->built()) {
          e.layer->build(in_shapes);
        } else if (known && n.call_index == 0) {
          models::check_build_matches(*e.layer, in_shapes, node_where);
        }
        if (known) {
          try {
            n.output_shapes = e.layer->compute_output_shape_for_call(in_shapes, n.constant_kwargs);
          } catch (const std::logic_error& err) {  // e.g. out_of_range from a layer's shape code
            throw ConfigError(node_where + ": " + e.layer->describe() +
                              " cannot take inputs of these shapes: " + err.what());
          }
        }
        n.num_outputs = std::max<std::size_t>(1, n.output_shapes.size());
        e.node_ids.push_back(nodes_.size());
        nodes_.push_back(std::move(n));
        ++processed[i];
        progress = true;
      }
    }
  }

  auto io = [&](const char* key, std::vector<TensorRef>& out, std::vector<std::string>& keys) {
    const JsonValue* v = cfg::find(c, key);
    if (v == nullptr) throw ConfigError(where + ": config has no '" + std::string(key) + "'");
    std::vector<RawRef> refs;
    flatten_io(*v, refs, keys, "", where);
    for (RawRef r : refs) {
      auto it = by_name.find(r.layer);
      if (it == by_name.end()) throw ConfigError(where + ": Unknown layer: " + r.layer);
      // References to a nested Functional model count its creation node (spec §3.9).
      if (dynamic_cast<Functional*>(entries_[it->second].layer.get()) != nullptr && r.node > 0) {
        --r.node;
      }
      auto t = resolve(r, where + ": " + key);
      if (!t)
        throw ConfigError(where + ": " + key + " refers to a call of '" + r.layer +
                          "' that does not exist");
      out.push_back(*t);
    }
  };
  std::vector<std::string> input_keys;
  io("input_layers", inputs_, input_keys);
  io("output_layers", outputs_, output_keys_);
  if (inputs_.empty() || outputs_.empty()) {
    throw ConfigError(where + ": the model has no " + (inputs_.empty() ? "inputs" : "outputs") +
                      " (empty '" + (inputs_.empty() ? "input_layers" : "output_layers") +
                      "'); a Functional model maps at least one input to one output");
  }
  // model.layers in Keras's order (identical to the config order of files Keras 3 wrote; Keras 2
  // files may differ), so weights and saved configs line up with what Keras computes.
  std::vector<Entry> ordered;
  for (std::size_t i : keras_layer_order()) ordered.push_back(std::move(entries_[i]));
  entries_ = std::move(ordered);
  std::vector<Shape> in_shapes;
  for (const TensorRef& t : inputs_) {
    const Node& n = nodes_[t.node];
    in_shapes.push_back(t.tensor < n.output_shapes.size() ? n.output_shapes[t.tensor] : Shape{});
  }
  build(in_shapes);
  plan_releases();
}

void Functional::plan_releases() {
  // A node's outputs die after their last consumer in evaluation order (nodes_ order); the model's
  // outputs never die, and outputs nothing consumes die right after their own node.
  constexpr std::size_t kKeep = static_cast<std::size_t>(-1);
  std::vector<std::size_t> last_use(nodes_.size());
  for (std::size_t id = 0; id < nodes_.size(); ++id) last_use[id] = id;
  for (std::size_t id = 0; id < nodes_.size(); ++id) {
    for (const TensorRef& t : nodes_[id].inputs) last_use[t.node] = std::max(last_use[t.node], id);
    for (const auto& [k, t] : nodes_[id].kwargs) last_use[t.node] = std::max(last_use[t.node], id);
    for (const auto& m : nodes_[id].mask_list) {  // an explicit mask=[...] reads other nodes too
      if (m) last_use[m->node] = std::max(last_use[m->node], id);
    }
  }
  for (const TensorRef& t : outputs_) last_use[t.node] = kKeep;
  std::vector<std::size_t> count(nodes_.size() + 1, 0);
  for (std::size_t id = 0; id < nodes_.size(); ++id) {
    if (last_use[id] != kKeep) ++count[last_use[id] + 1];
  }
  release_begin_.assign(nodes_.size() + 1, 0);
  for (std::size_t id = 0; id < nodes_.size(); ++id)
    release_begin_[id + 1] = release_begin_[id] + count[id + 1];
  release_nodes_.assign(release_begin_.back(), 0);
  std::vector<std::size_t> fill(release_begin_.begin(), release_begin_.end() - 1);
  for (std::size_t id = 0; id < nodes_.size(); ++id) {
    if (last_use[id] != kKeep) release_nodes_[fill[last_use[id]]++] = id;
  }
}

namespace {

// Raw operations (keras.ops.*) are graph entries but not layers: Keras leaves them out of
// model.layers, so they own no weights group.
bool is_graph_operation(const Layer& l) {
  return l.is_operation();
}

}  // namespace

std::vector<std::shared_ptr<Layer>> Functional::layers() const {
  std::vector<std::shared_ptr<Layer>> out;
  for (const Entry& e : entries_) {
    if (!is_graph_operation(*e.layer)) out.push_back(e.layer);
  }
  return out;
}

std::vector<std::size_t> Functional::keras_layer_order() const {
  std::map<const Layer*, std::size_t> entry_of;
  for (std::size_t i = 0; i < entries_.size(); ++i) entry_of[entries_[i].layer.get()] = i;
  auto all_inputs = [&](const Node& n) {
    std::vector<TensorRef> refs = n.inputs;
    for (const auto& [k, t] : n.kwargs) refs.push_back(t);
    return refs;
  };
  auto is_model_input = [&](const TensorRef& t) {
    for (const TensorRef& in : inputs_) {
      if (in.node == t.node && in.tensor == t.tensor) return true;
    }
    return false;
  };
  // 1. Post-order of nodes reached from the outputs; operations numbered when first reached.
  std::vector<std::size_t> post_order;
  std::vector<char> finished(nodes_.size(), 0);
  std::map<const Layer*, long> op_index;
  std::function<void(const TensorRef&)> visit = [&](const TensorRef& t) {
    const Node& n = nodes_[t.node];
    if (finished[t.node]) return;
    op_index.try_emplace(n.layer, static_cast<long>(op_index.size()));
    const bool is_input = dynamic_cast<const InputLayer*>(n.layer) != nullptr;
    if (!is_input && !is_model_input(t)) {
      for (const TensorRef& in : all_inputs(n)) visit(in);
    }
    finished[t.node] = 1;
    post_order.push_back(t.node);
  };
  for (const TensorRef& out : outputs_) visit(out);
  // 2. Depths, visiting nodes from the outputs back.
  std::map<std::size_t, long> node_depth;
  std::map<const Layer*, long> op_depth;
  for (auto it = post_order.rbegin(); it != post_order.rend(); ++it) {
    long depth = node_depth.try_emplace(*it, 0).first->second;
    const Layer* op = nodes_[*it].layer;
    depth = std::max(depth, op_depth.count(op) ? op_depth[op] : 0L);
    op_depth[op] = depth;
    node_depth[*it] = depth;
    for (const TensorRef& in : all_inputs(nodes_[*it])) {
      long& parent = node_depth.try_emplace(in.node, 0).first->second;
      parent = std::max(parent, depth + 1);
    }
  }
  for (const TensorRef& in : inputs_) {
    const Layer* op = nodes_[in.node].layer;
    if (!op_depth.count(op)) {
      op_depth[op] = 0;
      op_index[op] = -1;
    }
  }
  // 3. Depth descending, ties by first-reached index.
  std::vector<std::size_t> order;
  for (const auto& [op, depth] : op_depth) order.push_back(entry_of.at(op));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const Layer* la = entries_[a].layer.get();
    const Layer* lb = entries_[b].layer.get();
    if (op_depth[la] != op_depth[lb]) return op_depth[la] > op_depth[lb];
    return op_index[la] < op_index[lb];
  });
  // Layers the outputs do not reach keep their place at the end (Keras would drop them).
  std::vector<char> seen(entries_.size(), 0);
  for (std::size_t i : order) seen[i] = 1;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (!seen[i]) order.push_back(i);
  }
  return order;
}

std::vector<std::string> Functional::inbound_layer_names(const Layer& layer) const {
  std::vector<std::string> out;
  for (const Node& n : nodes_) {
    if (n.layer != &layer) continue;
    for (const TensorRef& t : n.inputs) out.push_back(nodes_[t.node].layer->name());
    for (const auto& [k, t] : n.kwargs) out.push_back(nodes_[t.node].layer->name());
  }
  return out;
}

std::vector<Shape> Functional::input_shapes() const {
  std::vector<Shape> out;
  for (const TensorRef& t : inputs_) {
    const Node& n = nodes_[t.node];
    out.push_back(t.tensor < n.output_shapes.size() ? n.output_shapes[t.tensor] : Shape{});
  }
  return out;
}

std::vector<DType> Functional::input_dtypes() const {
  std::vector<DType> out;
  for (const TensorRef& t : inputs_) {
    const auto* in = dynamic_cast<const InputLayer*>(nodes_[t.node].layer);
    out.push_back(in != nullptr ? in->dtype() : DType::Float32);
  }
  return out;
}

std::vector<std::string> Functional::input_names() const {
  std::vector<std::string> out;
  for (const TensorRef& t : inputs_) out.push_back(nodes_[t.node].layer->name());
  return out;
}

std::vector<Shape> Functional::output_shapes() const {
  std::vector<Shape> out;
  for (const TensorRef& t : outputs_) {
    const Node& n = nodes_[t.node];
    out.push_back(t.tensor < n.output_shapes.size() ? n.output_shapes[t.tensor] : Shape{});
  }
  return out;
}

std::vector<std::string> Functional::output_names() const {
  return output_keys_;
}

std::vector<Shape> Functional::compute_output_shape(const std::vector<Shape>& in) const {
  std::vector<Shape> out = output_shapes();
  if (!in.empty() && !in[0].empty()) {
    for (Shape& s : out) {
      if (!s.empty()) s[0] = in[0][0];
    }
  }
  return out;
}

std::vector<TrackedChild> Functional::tracked_children() const {
  TrackedChild c{"layers", {}, true};
  for (const Entry& e : entries_) {
    if (!is_graph_operation(*e.layer)) c.layers.push_back(e.layer.get());
  }
  return {c};
}

TensorList Functional::forward(const TensorList& inputs, CallContext& outer) {
  if (inputs.size() != inputs_.size()) {
    throw ShapeError(describe() + " expects " + std::to_string(inputs_.size()) + " inputs, got " +
                     std::to_string(inputs.size()));
  }
  // Per-node outputs and masks; all storage comes from the tensor buffer cache, so a
  // steady-state call allocates nothing.
  std::vector<TensorList, CachedAllocator<TensorList>> values(nodes_.size());
  std::vector<MaskList, CachedAllocator<MaskList>> masks(nodes_.size());
  for (std::size_t i = 0; i < inputs_.size(); ++i) {
    values[inputs_[i].node].resize(1);
    values[inputs_[i].node][0] = inputs[i];
    // A nested model called on masked tensors: its inputs carry those masks.
    if (i < outer.input_masks.size() && outer.input_masks[i]) {
      masks[inputs_[i].node].assign(1, outer.input_masks[i]);
    }
  }
  // Drops what node `id` was the last consumer of: intermediate tensors live only as long as the
  // graph needs them, so the peak is the largest live set, not the sum of all activations.
  auto release_after = [&](std::size_t id) {
    for (std::size_t r = release_begin_[id]; r < release_begin_[id + 1]; ++r) {
      values[release_nodes_[r]].clear();
      masks[release_nodes_[r]].clear();
    }
  };
  auto mask_of = [&](const TensorRef& t) -> std::optional<Tensor> {
    const auto& m = masks[t.node];
    return t.tensor < m.size() ? m[t.tensor] : std::nullopt;
  };
  for (std::size_t id = 0; id < nodes_.size(); ++id) {
    const Node& n = nodes_[id];
    if (dynamic_cast<const InputLayer*>(n.layer) != nullptr) {
      release_after(id);
      continue;
    }
    TensorList args;
    CallContext ctx;
    bool any_mask = false;
    for (const TensorRef& t : n.inputs) {
      const auto& v = values[t.node];
      if (t.tensor >= v.size()) {
        throw Error(describe() + ": layer '" + nodes_[t.node].layer->name() + "' produced " +
                    std::to_string(v.size()) + " outputs, output " + std::to_string(t.tensor) +
                    " was expected");
      }
      args.push_back(v[t.tensor]);
      ctx.input_masks.push_back(mask_of(t));
      any_mask = any_mask || ctx.input_masks.back().has_value();
    }
    if (!n.mask_list.empty()) {  // an explicit mask list replaces the propagated masks
      any_mask = false;
      for (std::size_t i = 0; i < ctx.input_masks.size(); ++i) {
        ctx.input_masks[i] =
            i < n.mask_list.size() && n.mask_list[i]
                ? std::optional<Tensor>(values[n.mask_list[i]->node].at(n.mask_list[i]->tensor))
                : std::nullopt;
        any_mask = any_mask || ctx.input_masks[i].has_value();
      }
    }
    if (!any_mask) ctx.input_masks.clear();
    for (const auto& [k, t] : n.kwargs) ctx.kwargs[KwargName(k)] = values[t.node].at(t.tensor);
    // Keras fills `<name>_mask` from a keyword tensor's mask (MultiHeadAttention's value_mask)
    // unless the call passes it.
    for (const auto& [k, t] : n.kwargs) {
      auto m = mask_of(t);
      if (!m || n.layer->is_operation() || k == "mask") continue;
      KwargName name(k);
      name += "_mask";
      ctx.kwargs.try_emplace(std::move(name), *m);
    }
    for (const auto& [k, t] : n.constant_kwargs) ctx.kwargs[KwargName(k)] = t;
    ctx.call_args = n.call_args.get();
    values[id] = detail::call_layer(*n.layer, args, ctx, masks[id]);
    release_after(id);
  }
  TensorList out;
  outer.output_masks.clear();
  for (const TensorRef& t : outputs_) {
    out.push_back(values[t.node].at(t.tensor));
    outer.output_masks.push_back(mask_of(t));
  }
  return out;
}

std::shared_ptr<JsonDocument> Functional::to_object_dict() const {
  auto doc = Layer::to_object_dict();
  auto& a = doc->GetAllocator();
  JsonValue& c = (*doc)["config"];
  JsonValue list(rapidjson::kArrayType);
  for (const Entry& e : entries_) {
    auto d = e.layer->to_object_dict();
    JsonValue v;
    v.CopyFrom(*d, a);
    cfg::set(v, "name", cfg::str(e.layer->name(), a), a);
    JsonValue ib;
    ib.CopyFrom(*e.inbound_nodes, a);
    cfg::set(v, "inbound_nodes", std::move(ib), a);
    list.PushBack(v, a);
  }
  cfg::set(c, "layers", std::move(list), a);
  JsonValue bc(rapidjson::kObjectType);
  bc.AddMember("input_shape", JsonValue(), a);
  cfg::set(*doc, "build_config", std::move(bc), a);
  JsonValue cc(rapidjson::kObjectType);
  if (compile_config() != nullptr) cc.CopyFrom(*compile_config(), a);
  cfg::set(*doc, "compile_config", std::move(cc), a);
  return doc;
}

static const BuiltinLayerRegistration kRegisterFunctional(
    "Functional", [](std::shared_ptr<JsonDocument> d, Deserializer& c) {
      return std::shared_ptr<Layer>(std::make_shared<Functional>(std::move(d), c));
    });

}  // namespace kserde
