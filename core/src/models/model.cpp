#include "kserde/model.hpp"

#include <algorithm>
#include <cstring>
#include <set>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/functional.hpp"

namespace kserde {

std::string Optimizer::class_name() const {
  const JsonValue* v = object_dict ? cfg::find(*object_dict, "class_name") : nullptr;
  return v != nullptr && v->IsString() ? v->GetString() : "";
}

std::string Optimizer::name() const {
  const JsonValue* c = object_dict ? cfg::find(*object_dict, "config") : nullptr;
  if (c == nullptr) return "";
  return cfg::get_string(*c, "name", "optimizer", "");
}

std::shared_ptr<Layer> Model::get_layer(std::string_view name) const {
  for (const auto& l : layers()) {
    if (l->name() == name) return l;
  }
  throw ConfigError(describe() + ": no layer named '" + std::string(name) + "'");
}

namespace {

// Every layer and keras.ops operation node below `layer` (operations are graph nodes, not
// tracked children).
template <class F>
void visit_all(const Layer& layer, F&& f) {
  f(layer);
  for (const TrackedChild& c : layer.tracked_children()) {
    for (const Layer* l : c.layers) visit_all(*l, f);
  }
  if (const auto* fn = dynamic_cast<const Functional*>(&layer)) {
    for (const auto& n : fn->nodes()) {
      if (n.layer->is_operation()) visit_all(*n.layer, f);
    }
  }
}

void collect_uncomputable(const Layer& layer, std::set<std::string>& out) {
  visit_all(layer, [&](const Layer& l) {
    if (!l.can_compute()) out.insert(l.class_name());
  });
}

}  // namespace

std::vector<std::string> Model::uncomputable_classes() const {
  std::set<std::string> out;
  collect_uncomputable(*this, out);
  return {out.begin(), out.end()};
}

TensorList Model::call(const TensorList& inputs, CallContext& ctx) {
  return forward(inputs, ctx);
}

void Model::signature_changed() {
  std::lock_guard<std::mutex> lk(signature_mutex_);
  signature_.reset();
}

std::shared_ptr<const Model::PredictSignature> Model::predict_signature() const {
  {
    std::lock_guard<std::mutex> lk(signature_mutex_);
    if (signature_) return signature_;
  }
  std::set<std::string> unknown;
  visit_all(*this, [&](const Layer& l) {
    if (!l.can_compute()) unknown.insert(l.describe());
  });
  if (!unknown.empty()) {
    std::string list;
    for (const auto& c : unknown) list += (list.empty() ? "" : ", ") + c;
    throw UnsupportedError(describe() + ": cannot predict: kserde cannot compute " + list +
                           ". Load a plugin that provides the class (--plugin FILE, --plugin-dir "
                           "DIR or KSERDE_PLUGIN_PATH), register a C++ implementation under its "
                           "name, or replace it in the model; inspect and convert work as is.");
  }
  auto sig = std::make_shared<PredictSignature>();
  sig->shapes = input_shapes();
  sig->dtypes = input_dtypes();
  if (sig->dtypes.size() != sig->shapes.size()) sig->dtypes.resize(sig->shapes.size());
  std::lock_guard<std::mutex> lk(signature_mutex_);
  signature_ = sig;
  return sig;
}

TensorList Model::predict(const TensorList& inputs_in, std::int64_t batch_size) {
  if (!built()) {
    // Like Keras, a model without an Input builds on its first call.
    std::vector<Shape> first;
    for (const Tensor& x : inputs_in) {
      Shape s = x.shape();
      if (!s.empty()) s[0] = -1;
      first.push_back(s);
    }
    build(first);
    signature_changed();
  }
  // Checked once per signature: a steady-state call allocates nothing here.
  const std::shared_ptr<const PredictSignature> sig = predict_signature();
  const std::vector<Shape>& shapes = sig->shapes;
  const std::vector<DType>& dtypes = sig->dtypes;
  if (inputs_in.size() != shapes.size()) {
    throw ShapeError(describe() + " expects " + std::to_string(shapes.size()) + " input(s), got " +
                     std::to_string(inputs_in.size()));
  }
  if (batch_size <= 0) throw ConfigError("predict: batch_size must be positive");
  std::int64_t rows = -1;
  for (std::size_t i = 0; i < inputs_in.size(); ++i) {
    const Tensor& x = inputs_in[i];
    const Shape& want = shapes[i];
    bool ok = x.rank() == want.size();
    for (std::size_t d = 1; ok && d < want.size(); ++d) ok = want[d] < 0 || want[d] == x.dim(d);
    if (!ok || x.rank() == 0) {
      throw ShapeError(describe() + ": input '" + input_names().at(i) + "' has shape " +
                       shape_to_string(x.shape()) + ", expected " + shape_to_string(want));
    }
    if (rows >= 0 && x.dim(0) != rows) {
      throw ShapeError(describe() + ": inputs have different batch sizes (" + std::to_string(rows) +
                       " and " + std::to_string(x.dim(0)) + ")");
    }
    rows = x.dim(0);
  }
  // Batches are row slices (marked borrowed, so no layer can write into the caller's tensors),
  // cast to the model's dtypes one batch at a time. A single batch's outputs are returned as they
  // are; with several, each batch's outputs are copied into the result as soon as they exist, so
  // the peak holds the result and one batch's activations, never every batch's outputs at once.
  // Every list here draws on the buffer cache.
  TensorList result;
  for (std::int64_t begin = 0; begin < rows || (rows == 0 && begin == 0); begin += batch_size) {
    const std::int64_t end = std::min(rows, begin + batch_size);
    TensorList batch;
    for (std::size_t i = 0; i < inputs_in.size(); ++i)
      batch.push_back(inputs_in[i].slice_rows(begin, end).to(dtypes[i]));
    CallContext ctx;
    TensorList out = forward(batch, ctx);
    batch.clear();  // the inputs' converted copies are not needed past the forward pass
    if (begin == 0 && end == rows) {
      result = std::move(out);
      break;
    }
    if (begin == 0) {
      for (const Tensor& o : out) {
        if (o.rank() == 0 || o.dim(0) != end - begin) {
          throw ShapeError(
              describe() + ": an output of shape " + shape_to_string(o.shape()) +
              " has no batch axis; predict with batch_size >= " + std::to_string(rows));
        }
        Shape s = o.shape();
        s[0] = rows;
        result.push_back(Tensor::uninitialized(std::move(s), o.dtype()));
      }
    }
    for (std::size_t o = 0; o < out.size() && o < result.size(); ++o) {
      const Tensor& part = out[o];
      Shape want = result[o].shape();
      want[0] = end - begin;
      if (part.shape() != want || part.dtype() != result[o].dtype()) {
        throw ShapeError(describe() + ": output " + std::to_string(o) + " has shape " +
                         shape_to_string(part.shape()) + " for rows " + std::to_string(begin) +
                         ".." + std::to_string(end) + ", unlike the earlier batches' " +
                         shape_to_string(result[o].shape()));
      }
      const std::size_t row_bytes = result[o].nbytes() / static_cast<std::size_t>(rows);
      if (part.nbytes() != 0) {
        std::memcpy(result[o].mutable_bytes().data() + static_cast<std::size_t>(begin) * row_bytes,
                    part.bytes().data(), part.nbytes());
      }
    }
  }
  return result;
}

Tensor Model::predict(const Tensor& input, std::int64_t batch_size) {
  auto out = predict(TensorList{input}, batch_size);
  if (out.size() != 1) {
    throw ShapeError(describe() + " has " + std::to_string(out.size()) +
                     " outputs; use the vector form of predict");
  }
  return out[0];
}

const JsonValue* Model::compile_config() const {
  return compile_config_.get();
}

void Model::set_compile_config(std::shared_ptr<JsonDocument> c) {
  compile_config_ = std::move(c);
}

bool Model::is_compiled() const {
  return compile_config_ && compile_config_->IsObject() && compile_config_->MemberCount() > 0;
}

}  // namespace kserde
