// Backward passes of models: a Sequential chains its layers' passes; a Functional graph runs its
// nodes in order and sends gradients back along the same edges, summing where a tensor feeds
// several nodes. Models nested as layers recurse.
#include "kserde/error.hpp"
#include "kserde/functional.hpp"
#include "training/backprop.hpp"

namespace kserde::training {

namespace {

void add_into(Tensor& acc, const Tensor& g) {
  if (!acc.valid() || acc.num_elements() == 0) {
    acc = g.clone();
    return;
  }
  float* a = acc.f32_mut();
  const float* p = g.f32();
  for (std::int64_t i = 0; i < acc.num_elements(); ++i) a[i] += p[i];
}

class SequentialBackprop final : public LayerBackprop {
 public:
  SequentialBackprop(Sequential& model, TrainContext& ctx) {
    for (const auto& l : model.layers()) steps_.push_back(make_backprop(*l, ctx));
  }
  TensorList forward(const TensorList& in, TrainContext& ctx) override {
    TensorList x = in;
    for (auto& s : steps_) x = s->forward(x, ctx);
    return x;
  }
  TensorList backward(const TensorList& d, GradMap& grads) override {
    TensorList g = d;
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) g = (*it)->backward(g, grads);
    return g;
  }

 private:
  std::vector<std::unique_ptr<LayerBackprop>> steps_;
};

class FunctionalBackprop final : public LayerBackprop {
 public:
  FunctionalBackprop(Functional& model, TrainContext& ctx) : model_(model) {
    for (const Functional::Node& n : model.nodes()) {
      if (!n.kwargs.empty()) {
        throw UnsupportedError(n.layer->describe() +
                               ": kserde trains graphs whose calls take positional tensors only");
      }
      for (const auto& [k, v] : n.constant_kwargs) {
        if (k != "training") {
          throw UnsupportedError(n.layer->describe() + ": kserde cannot train a call with the '" +
                                 k + "' argument");
        }
      }
      steps_.push_back(make_backprop(*n.layer, ctx));
    }
  }

  TensorList forward(const TensorList& in, TrainContext& ctx) override {
    const auto& nodes = model_.nodes();
    const auto& inputs = model_.input_refs();
    if (in.size() != inputs.size()) {
      throw ShapeError(model_.describe() + " expects " + std::to_string(inputs.size()) +
                       " inputs, got " + std::to_string(in.size()));
    }
    values_.assign(nodes.size(), {});
    for (std::size_t i = 0; i < inputs.size(); ++i) values_[inputs[i].node] = {in[i]};
    for (std::size_t id = 0; id < nodes.size(); ++id) {
      if (!values_[id].empty()) continue;  // a model input
      TensorList args;
      for (const auto& t : nodes[id].inputs) args.push_back(values_[t.node].at(t.tensor));
      values_[id] = steps_[id]->forward(args, ctx);
    }
    TensorList out;
    for (const auto& t : model_.output_refs()) out.push_back(values_[t.node].at(t.tensor));
    return out;
  }

  TensorList backward(const TensorList& d, GradMap& grads) override {
    const auto& nodes = model_.nodes();
    std::vector<TensorList> dv(nodes.size());
    for (std::size_t id = 0; id < nodes.size(); ++id) dv[id].resize(values_[id].size());
    const auto& outs = model_.output_refs();
    for (std::size_t i = 0; i < outs.size(); ++i) add_into(dv[outs[i].node][outs[i].tensor], d[i]);
    const auto& inputs = model_.input_refs();
    std::vector<bool> is_input(nodes.size(), false);
    for (const auto& t : inputs) is_input[t.node] = true;
    for (std::size_t k = nodes.size(); k-- > 0;) {
      if (is_input[k]) continue;
      bool any = false;
      for (std::size_t o = 0; o < dv[k].size(); ++o) {
        if (dv[k][o].valid() && dv[k][o].num_elements() > 0) {
          any = true;
        } else {
          dv[k][o] = Tensor(values_[k][o].shape(), DType::Float32);
        }
      }
      if (!any) continue;  // does not reach the loss
      const TensorList dx = steps_[k]->backward(dv[k], grads);
      for (std::size_t a = 0; a < nodes[k].inputs.size() && a < dx.size(); ++a) {
        if (!dx[a].valid() || dx[a].num_elements() == 0) continue;
        const auto& t = nodes[k].inputs[a];
        add_into(dv[t.node][t.tensor], dx[a]);
      }
    }
    TensorList out;
    for (const auto& t : inputs) {
      Tensor g = dv[t.node].empty() ? Tensor() : dv[t.node][t.tensor];
      out.push_back(g);
    }
    return out;
  }

 private:
  Functional& model_;
  std::vector<std::unique_ptr<LayerBackprop>> steps_;
  std::vector<TensorList> values_;
};

}  // namespace

std::unique_ptr<LayerBackprop> make_model_backprop(Layer& layer, TrainContext& ctx) {
  if (auto* s = dynamic_cast<Sequential*>(&layer)) {
    return std::make_unique<SequentialBackprop>(*s, ctx);
  }
  if (auto* f = dynamic_cast<Functional*>(&layer)) {
    return std::make_unique<FunctionalBackprop>(*f, ctx);
  }
  return nullptr;
}

}  // namespace kserde::training
