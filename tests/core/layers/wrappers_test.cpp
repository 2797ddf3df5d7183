// Bidirectional and TimeDistributed against reference loops written out here.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/json.hpp"
#include "kserde/layers.hpp"

#include <rapidjson/document.h>

using kserde::CallContext;
using kserde::Shape;
using kserde::Tensor;

namespace {

std::vector<float> rnd(std::size_t n, std::uint32_t seed, float scale = 0.8f) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 777u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f);
  }
  return v;
}

Tensor tensor(const Shape& shape, const std::vector<float>& v) { return Tensor::from_floats(shape, v); }

void check_close(const Tensor& t, const std::vector<float>& expected, const std::string& what) {
  BOOST_TEST_CONTEXT(what) {
    BOOST_REQUIRE_EQUAL(static_cast<std::size_t>(t.num_elements()), expected.size());
    const auto v = t.values<float>();
    for (std::size_t i = 0; i < expected.size(); ++i) {
      BOOST_TEST_CONTEXT("element " << i) {
        BOOST_TEST(std::fabs(v[i] - expected[i]) <= 1e-6f + 1e-5f * std::fabs(expected[i]));
      }
    }
  }
}

struct SimpleRnnWeights {
  std::vector<float> k, rk, b;
};

struct Ref {
  std::vector<float> seq;  // (B, T, u), processing order
  std::vector<float> h;    // (B, u) final state
  std::vector<float> last;
};

// SimpleRNN (tanh) as Keras runs it: masked steps keep h and repeat the previous output (or zero).
Ref ref_simple_rnn(const SimpleRnnWeights& w, const std::vector<float>& x, int B, int T, int D, int u,
                   bool backwards, const std::vector<int>& mask = {}, bool zero_out = false) {
  Ref r{std::vector<float>(static_cast<std::size_t>(B * T * u)), std::vector<float>(static_cast<std::size_t>(B * u)),
        std::vector<float>(static_cast<std::size_t>(B * u))};
  for (int b = 0; b < B; ++b) {
    std::vector<float> h(static_cast<std::size_t>(u), 0.0f), prev(static_cast<std::size_t>(u), 0.0f);
    for (int s = 0; s < T; ++s) {
      const int t = backwards ? T - 1 - s : s;
      std::vector<float> out;
      if (mask.empty() || mask[static_cast<std::size_t>(b * T + t)] != 0) {
        std::vector<float> hn(static_cast<std::size_t>(u));
        for (int j = 0; j < u; ++j) {
          float a = w.b[static_cast<std::size_t>(j)];
          for (int i = 0; i < D; ++i) a += x[static_cast<std::size_t>((b * T + t) * D + i)] * w.k[static_cast<std::size_t>(i * u + j)];
          for (int i = 0; i < u; ++i) a += h[static_cast<std::size_t>(i)] * w.rk[static_cast<std::size_t>(i * u + j)];
          hn[static_cast<std::size_t>(j)] = std::tanh(a);
        }
        h = hn;
        out = h;
      } else {
        out = zero_out ? std::vector<float>(static_cast<std::size_t>(u), 0.0f) : prev;
      }
      prev = out;
      std::copy(out.begin(), out.end(), r.seq.begin() + (b * T + s) * u);
    }
    std::copy(h.begin(), h.end(), r.h.begin() + b * u);
    std::copy(prev.begin(), prev.end(), r.last.begin() + b * u);
  }
  return r;
}

// (B, T, u) reversed along T.
std::vector<float> flip(const std::vector<float>& v, int B, int T, int u) {
  std::vector<float> out(v.size());
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      for (int j = 0; j < u; ++j)
        out[static_cast<std::size_t>((b * T + t) * u + j)] = v[static_cast<std::size_t>((b * T + T - 1 - t) * u + j)];
  return out;
}

kserde::Layer& child(const kserde::Layer& l, std::size_t i, const std::string& attribute) {
  auto c = l.tracked_children();
  BOOST_REQUIRE_GT(c.size(), i);
  BOOST_TEST(c[i].attribute == attribute);
  return *c[i].layers.at(0);
}

SimpleRnnWeights set_simple_rnn(kserde::Layer& rnn, int D, int u, std::uint32_t seed) {
  SimpleRnnWeights w{rnd(static_cast<std::size_t>(D * u), seed), rnd(static_cast<std::size_t>(u * u), seed + 1),
                     rnd(static_cast<std::size_t>(u), seed + 2, 0.3f)};
  child(rnn, 0, "cell").set_weights({tensor({D, u}, w.k), tensor({u, u}, w.rk), tensor({u}, w.b)});
  return w;
}

std::string bidi_config(const std::string& merge, bool seq, bool state = false) {
  return R"({"merge_mode": )" + merge +
         R"(, "layer": {"module": "keras.layers", "class_name": "SimpleRNN", "config": {"name": "rnn", "units": 3, "return_sequences": )" +
         (seq ? "true" : "false") + R"(, "return_state": )" + (state ? "true" : "false") +
         R"(}, "registered_name": null}})";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wrappers)

BOOST_AUTO_TEST_CASE(bidirectional_structure_names_and_saved_config) {
  auto l = kserde::layers::from_config("Bidirectional", R"({"layer": {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "lstm", "units": 3, "return_sequences": true}, "registered_name": null}})");
  l->build({{-1, 5, 2}});
  BOOST_TEST(l->variables().empty());
  auto children = l->tracked_children();
  BOOST_REQUIRE_EQUAL(children.size(), 2u);
  BOOST_TEST(children[0].attribute == "backward_layer");  // saving order: sorted attribute names
  BOOST_TEST(children[1].attribute == "forward_layer");
  BOOST_TEST(children[0].layers[0]->name() == "backward_lstm");
  BOOST_TEST(children[1].layers[0]->name() == "forward_lstm");
  for (const auto& c : children) {
    auto& cell = child(*c.layers[0], 0, "cell");
    BOOST_TEST(cell.variables().at(0).value.shape() == (Shape{2, 12}));
  }
  BOOST_TEST(l->count_params() == 2 * (2 * 12 + 3 * 12 + 12));
  const std::string saved = kserde::to_json(*l->to_object_dict());
  BOOST_TEST(saved.find("\"merge_mode\": \"concat\"") != std::string::npos);
  BOOST_TEST(saved.find("\"name\": \"forward_lstm\"") != std::string::npos);
  BOOST_TEST(saved.find("\"name\": \"backward_lstm\"") != std::string::npos);
  BOOST_TEST(saved.find("\"backward_layer\": {") != std::string::npos);
  // Keras forces zero_output_for_mask = return_sequences on both copies and saves it.
  BOOST_TEST(saved.find("\"zero_output_for_mask\": false") == std::string::npos);
  BOOST_TEST(saved.find("\"go_backwards\": true") != std::string::npos);
  BOOST_TEST(l->compute_output_shape({{-1, 5, 2}}).at(0) == (Shape{-1, 5, 6}));
}

BOOST_AUTO_TEST_CASE(bidirectional_merge_modes_match_reference) {
  const int B = 2, T = 4, D = 3, u = 3;
  const auto x = rnd(B * T * D, 5);
  for (bool seq : {true, false}) {
    for (const char* mode : {"\"concat\"", "\"sum\"", "\"mul\"", "\"ave\"", "null"}) {
      BOOST_TEST_CONTEXT("merge_mode=" << mode << " return_sequences=" << seq) {
        auto l = kserde::layers::from_config("Bidirectional", bidi_config(mode, seq));
        l->build({{-1, T, D}});
        const auto wb = set_simple_rnn(child(*l, 0, "backward_layer"), D, u, 30);
        const auto wf = set_simple_rnn(child(*l, 1, "forward_layer"), D, u, 20);
        CallContext ctx;
        auto out = l->call({tensor({B, T, D}, x)}, ctx);
        const Ref f = ref_simple_rnn(wf, x, B, T, D, u, false);
        const Ref b = ref_simple_rnn(wb, x, B, T, D, u, true);
        const std::vector<float> y = seq ? f.seq : f.last;
        const std::vector<float> yr = seq ? flip(b.seq, B, T, u) : b.last;
        const auto shapes = l->compute_output_shape({{B, T, D}});
        BOOST_REQUIRE_EQUAL(shapes.size(), out.size());
        for (std::size_t i = 0; i < out.size(); ++i) BOOST_TEST(shapes[i] == out[i].shape());
        const std::string m = mode;
        if (m == "null") {
          BOOST_REQUIRE_EQUAL(out.size(), 2u);
          check_close(out[0], y, "forward");
          check_close(out[1], yr, "backward");
          continue;
        }
        BOOST_REQUIRE_EQUAL(out.size(), 1u);
        std::vector<float> e;
        if (m == "\"concat\"") {
          for (std::size_t r = 0; r < y.size() / u; ++r) {
            e.insert(e.end(), y.begin() + static_cast<std::ptrdiff_t>(r * u), y.begin() + static_cast<std::ptrdiff_t>((r + 1) * u));
            e.insert(e.end(), yr.begin() + static_cast<std::ptrdiff_t>(r * u), yr.begin() + static_cast<std::ptrdiff_t>((r + 1) * u));
          }
        } else {
          for (std::size_t i = 0; i < y.size(); ++i) {
            e.push_back(m == "\"sum\"" ? y[i] + yr[i] : m == "\"mul\"" ? y[i] * yr[i] : (y[i] + yr[i]) / 2);
          }
        }
        check_close(out[0], e, "merged");
        BOOST_TEST(!ctx.output_masks.at(0).has_value());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(bidirectional_return_state_and_initial_states) {
  const int B = 2, T = 3, D = 2, u = 3;
  auto l = kserde::layers::from_config("Bidirectional", bidi_config("\"sum\"", false, true));
  l->build({{-1, T, D}});
  const auto wb = set_simple_rnn(child(*l, 0, "backward_layer"), D, u, 50);
  const auto wf = set_simple_rnn(child(*l, 1, "forward_layer"), D, u, 40);
  const auto x = rnd(B * T * D, 6);
  CallContext ctx;
  auto out = l->call({tensor({B, T, D}, x)}, ctx);
  BOOST_REQUIRE_EQUAL(out.size(), 3u);  // [merged, h_forward, h_backward]
  check_close(out[1], ref_simple_rnn(wf, x, B, T, D, u, false).h, "forward state");
  check_close(out[2], ref_simple_rnn(wb, x, B, T, D, u, true).h, "backward state");
  BOOST_TEST(l->compute_output_shape({{B, T, D}}).size() == 3u);
  // An odd number of initial states cannot be split into halves.
  BOOST_CHECK_THROW(l->call({tensor({B, T, D}, x), tensor({B, u}, rnd(6, 1))}, ctx), kserde::ShapeError);
}

BOOST_AUTO_TEST_CASE(bidirectional_mask_gives_zero_outputs_at_padding) {
  const int B = 2, T = 4, D = 2, u = 3;
  const std::vector<int> mask{1, 1, 1, 0, 0, 1, 1, 1};
  const std::vector<float> mask_f(mask.begin(), mask.end());
  auto l = kserde::layers::from_config("Bidirectional", bidi_config("\"concat\"", true));
  l->build({{-1, T, D}});
  const auto wb = set_simple_rnn(child(*l, 0, "backward_layer"), D, u, 70);
  const auto wf = set_simple_rnn(child(*l, 1, "forward_layer"), D, u, 60);
  const auto x = rnd(B * T * D, 7);
  CallContext ctx;
  ctx.input_masks = {tensor({B, T}, mask_f)};
  auto out = l->call({tensor({B, T, D}, x)}, ctx);
  const auto y = ref_simple_rnn(wf, x, B, T, D, u, false, mask, true).seq;
  const auto yr = flip(ref_simple_rnn(wb, x, B, T, D, u, true, mask, true).seq, B, T, u);
  std::vector<float> e;
  for (int r = 0; r < B * T; ++r) {
    e.insert(e.end(), y.begin() + r * u, y.begin() + (r + 1) * u);
    e.insert(e.end(), yr.begin() + r * u, yr.begin() + (r + 1) * u);
  }
  check_close(out[0], e, "masked concat");
  BOOST_TEST(out[0].values<float>()[3 * 2 * u] == 0.0f);  // sample 0, step 3 is padding
}

BOOST_AUTO_TEST_CASE(bidirectional_explicit_backward_layer_and_errors) {
  auto l = kserde::layers::from_config("Bidirectional", R"({"merge_mode": "ave",
      "layer": {"class_name": "GRU", "config": {"name": "forward_gru", "units": 2}},
      "backward_layer": {"class_name": "GRU", "config": {"name": "backward_gru", "units": 2, "go_backwards": true}}})");
  BOOST_TEST(child(*l, 0, "backward_layer").name() == "backward_gru");
  BOOST_TEST(child(*l, 1, "forward_layer").name() == "forward_gru");
  BOOST_CHECK_THROW(kserde::layers::from_config("Bidirectional", bidi_config("\"max\"", true)), kserde::ConfigError);
  BOOST_CHECK_THROW(kserde::layers::from_config("Bidirectional", R"({"layer": {"class_name": "GRU", "config": {"units": 2}},
      "backward_layer": {"class_name": "GRU", "config": {"units": 2}}})"), kserde::ConfigError);
  BOOST_CHECK_THROW(kserde::layers::from_config("Bidirectional", R"({"layer": {"class_name": "GRU", "config": {"units": 2}},
      "backward_layer": {"class_name": "GRU", "config": {"units": 2, "go_backwards": true, "return_sequences": true}}})"), kserde::ConfigError);
  BOOST_CHECK_THROW(kserde::layers::from_config("Bidirectional", R"({"merge_mode": "sum"})"), kserde::ConfigError);
  auto b = kserde::layers::from_config("Bidirectional", bidi_config("\"sum\"", true));
  try {
    b->build({{-1, 3}});
    BOOST_FAIL("rank-2 build accepted");
  } catch (const kserde::ShapeError& e) {
    BOOST_TEST(std::string(e.what()).find("Bidirectional 'bidirectional'") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(time_distributed_dense_matches_per_step_loop) {
  const int B = 2, T = 3, D = 4, U = 5;
  auto l = kserde::layers::from_config("TimeDistributed", R"({"layer": {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 5, "activation": "tanh"}, "registered_name": null}})");
  l->build({{-1, T, D}});
  auto& inner = child(*l, 0, "layer");
  BOOST_REQUIRE_EQUAL(inner.variables().size(), 2u);
  BOOST_TEST(inner.variables()[0].value.shape() == (Shape{D, U}));
  const auto k = rnd(D * U, 1);
  const auto b = rnd(U, 2);
  inner.set_weights({tensor({D, U}, k), tensor({U}, b)});
  const auto x = rnd(B * T * D, 3);
  CallContext ctx;
  ctx.input_masks = {tensor({B, T}, std::vector<float>(B * T, 1.0f))};
  auto out = l->call({tensor({B, T, D}, x)}, ctx);
  std::vector<float> e;
  for (int bt = 0; bt < B * T; ++bt) {
    for (int j = 0; j < U; ++j) {
      float a = b[static_cast<std::size_t>(j)];
      for (int i = 0; i < D; ++i) a += x[static_cast<std::size_t>(bt * D + i)] * k[static_cast<std::size_t>(i * U + j)];
      e.push_back(std::tanh(a));
    }
  }
  BOOST_TEST(out.at(0).shape() == (Shape{B, T, U}));
  check_close(out[0], e, "time distributed dense");
  BOOST_TEST(l->compute_output_shape({{-1, T, D}}).at(0) == (Shape{-1, T, U}));
  BOOST_TEST(!ctx.output_masks.at(0).has_value());
  const std::string saved = kserde::to_json(*l->to_object_dict());
  BOOST_TEST(saved.find("\"build_config\": {\"input_shape\": [null, 4]}") != std::string::npos);  // inner layer
  BOOST_TEST(saved.find("\"build_config\": {\"input_shape\": [null, 3, 4]}") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(time_distributed_higher_rank_and_errors) {
  auto l = kserde::layers::from_config("TimeDistributed", R"({"layer": {"class_name": "Dense", "config": {"units": 2}}})");
  l->build({{-1, 3, 4, 5}});
  auto& inner = child(*l, 0, "layer");
  inner.set_weights({tensor({5, 2}, rnd(10, 4)), tensor({2}, rnd(2, 5))});
  CallContext ctx;
  auto out = l->call({tensor({2, 3, 4, 5}, rnd(120, 6))}, ctx);
  BOOST_TEST(out.at(0).shape() == (Shape{2, 3, 4, 2}));
  BOOST_TEST(l->compute_output_shape({{-1, 3, 4, 5}}).at(0) == (Shape{-1, 3, 4, 2}));
  BOOST_CHECK_THROW(l->call({tensor({2, 5}, rnd(10, 1))}, ctx), kserde::ShapeError);
  auto fresh = kserde::layers::from_config("TimeDistributed", R"({"layer": {"class_name": "Dense", "config": {"units": 2}}})");
  BOOST_CHECK_THROW(fresh->build({{-1, 5}}), kserde::ShapeError);
  BOOST_CHECK_THROW(kserde::layers::from_config("TimeDistributed", R"({})"), kserde::ConfigError);
}

BOOST_AUTO_TEST_SUITE_END()
