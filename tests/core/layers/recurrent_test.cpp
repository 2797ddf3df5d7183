// SimpleRNN / LSTM / GRU / RNN and their cells against step-by-step reference loops written out
// here from the Keras equations (no code shared with the implementation).
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
using kserde::TensorList;

namespace {

// Deterministic pseudo-random values in [-scale, scale].
std::vector<float> rnd(std::size_t n, std::uint32_t seed, float scale = 0.8f) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 12345u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f);
  }
  return v;
}

Tensor tensor(const Shape& shape, const std::vector<float>& v) {
  return Tensor::from_floats(shape, v);
}

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

float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

enum class Kind { SimpleRNN, LSTM, GRU, GRUResetBefore };

struct Weights {
  std::vector<float> kernel, recurrent, bias;  // bias empty when use_bias=false
};

// One reference step for one sample; h (and c for LSTM) updated in place.
void ref_step(Kind kind, const Weights& w, const float* x, int d, int u, std::vector<float>& h,
              std::vector<float>& c, bool relu = false) {
  const int g = kind == Kind::LSTM ? 4 : kind == Kind::SimpleRNN ? 1 : 3;
  const int cols = g * u;
  auto xk = [&](int col) {  // x . kernel[:, col]
    float s = 0;
    for (int i = 0; i < d; ++i) s += x[i] * w.kernel[static_cast<std::size_t>(i * cols + col)];
    return s;
  };
  auto hk = [&](const std::vector<float>& hv, int col) {  // hv . recurrent[:, col]
    float s = 0;
    for (int i = 0; i < u; ++i)
      s += hv[static_cast<std::size_t>(i)] * w.recurrent[static_cast<std::size_t>(i * cols + col)];
    return s;
  };
  auto b = [&](int idx) { return w.bias.empty() ? 0.0f : w.bias[static_cast<std::size_t>(idx)]; };
  std::vector<float> hn(static_cast<std::size_t>(u)), cn = c;
  for (int j = 0; j < u; ++j) {
    const auto J = static_cast<std::size_t>(j);
    if (kind == Kind::SimpleRNN) {
      const float a = xk(j) + b(j) + hk(h, j);
      hn[J] = relu ? std::max(a, 0.0f) : std::tanh(a);
    } else if (kind == Kind::LSTM) {
      const float i = sigmoid(xk(j) + hk(h, j) + b(j));
      const float f = sigmoid(xk(u + j) + hk(h, u + j) + b(u + j));
      const float cc = std::tanh(xk(2 * u + j) + hk(h, 2 * u + j) + b(2 * u + j));
      const float o = sigmoid(xk(3 * u + j) + hk(h, 3 * u + j) + b(3 * u + j));
      cn[J] = f * c[J] + i * cc;
      hn[J] = o * std::tanh(cn[J]);
    } else if (kind == Kind::GRU) {
      // bias (2, 3u): row 0 input bias, row 1 recurrent bias.
      const float z = sigmoid(xk(j) + b(j) + hk(h, j) + b(3 * u + j));
      const float r = sigmoid(xk(u + j) + b(u + j) + hk(h, u + j) + b(4 * u + j));
      const float hh =
          std::tanh(xk(2 * u + j) + b(2 * u + j) + r * (hk(h, 2 * u + j) + b(5 * u + j)));
      hn[J] = z * h[J] + (1 - z) * hh;
    } else {
      // reset_after=False: bias (3u,), reset applied to h before the recurrent product.
      const float z = sigmoid(xk(j) + b(j) + hk(h, j));
      std::vector<float> rh(static_cast<std::size_t>(u));  // r * h for every unit
      for (int k = 0; k < u; ++k) {
        const auto K = static_cast<std::size_t>(k);
        rh[K] = sigmoid(xk(u + k) + b(u + k) + hk(h, u + k)) * h[K];
      }
      const float hh = std::tanh(xk(2 * u + j) + b(2 * u + j) + hk(rh, 2 * u + j));
      hn[J] = z * h[J] + (1 - z) * hh;
    }
  }
  h = hn;
  c = cn;
}

struct RefResult {
  std::vector<float> seq;   // (B, T, u) in processing order
  std::vector<float> last;  // (B, u)
  std::vector<float> h, c;  // (B, u)
};

// The Keras loop: masked steps keep states and repeat the previous output (zeros at first), or
// output zeros with zero_output_for_mask; go_backwards processes T-1..0.
RefResult ref_rnn(Kind kind, const Weights& w, const std::vector<float>& x, int B, int T, int D,
                  int u, bool backwards = false, const std::vector<int>& mask = {},
                  bool zero_out = false, const std::vector<float>& h0 = {},
                  const std::vector<float>& c0 = {}, bool relu = false) {
  RefResult r;
  r.seq.assign(static_cast<std::size_t>(B * T * u), 0.0f);
  r.last.assign(static_cast<std::size_t>(B * u), 0.0f);
  r.h.assign(static_cast<std::size_t>(B * u), 0.0f);
  r.c.assign(static_cast<std::size_t>(B * u), 0.0f);
  for (int b = 0; b < B; ++b) {
    std::vector<float> h(static_cast<std::size_t>(u), 0.0f), c(static_cast<std::size_t>(u), 0.0f),
        prev(static_cast<std::size_t>(u), 0.0f);
    if (!h0.empty()) h.assign(h0.begin() + b * u, h0.begin() + (b + 1) * u);
    if (!c0.empty()) c.assign(c0.begin() + b * u, c0.begin() + (b + 1) * u);
    for (int s = 0; s < T; ++s) {
      const int t = backwards ? T - 1 - s : s;
      const bool keep = mask.empty() || mask[static_cast<std::size_t>(b * T + t)] != 0;
      std::vector<float> out;
      if (keep) {
        ref_step(kind, w, &x[static_cast<std::size_t>((b * T + t) * D)], D, u, h, c, relu);
        out = h;
      } else {
        out = zero_out ? std::vector<float>(static_cast<std::size_t>(u), 0.0f) : prev;
      }
      prev = out;
      for (int j = 0; j < u; ++j)
        r.seq[static_cast<std::size_t>((b * T + s) * u + j)] = out[static_cast<std::size_t>(j)];
    }
    for (int j = 0; j < u; ++j) {
      const auto o = static_cast<std::size_t>(b * u + j);
      r.last[o] = prev[static_cast<std::size_t>(j)];
      r.h[o] = h[static_cast<std::size_t>(j)];
      r.c[o] = c[static_cast<std::size_t>(j)];
    }
  }
  return r;
}

Weights make_weights(Kind kind, int D, int u, bool use_bias, std::uint32_t seed) {
  const int g = kind == Kind::LSTM ? 4 : kind == Kind::SimpleRNN ? 1 : 3;
  Weights w;
  w.kernel = rnd(static_cast<std::size_t>(D * g * u), seed);
  w.recurrent = rnd(static_cast<std::size_t>(u * g * u), seed + 1);
  if (use_bias)
    w.bias = rnd(static_cast<std::size_t>((kind == Kind::GRU ? 2 : 1) * g * u), seed + 2, 0.5f);
  return w;
}

kserde::Layer& cell_of(kserde::Layer& l) {
  auto children = l.tracked_children();
  BOOST_REQUIRE_EQUAL(children.size(), 1u);
  BOOST_REQUIRE_EQUAL(children[0].attribute, "cell");
  return *children[0].layers.at(0);
}

void set_cell_weights(kserde::Layer& l, Kind kind, const Weights& w, int D, int u) {
  const int g = kind == Kind::LSTM ? 4 : kind == Kind::SimpleRNN ? 1 : 3;
  TensorList v{tensor({D, g * u}, w.kernel), tensor({u, g * u}, w.recurrent)};
  if (!w.bias.empty()) {
    v.push_back(kind == Kind::GRU ? tensor({2, g * u}, w.bias) : tensor({g * u}, w.bias));
  }
  cell_of(l).set_weights(v);
}

std::string cfg_json(const kserde::Layer& l) {
  return kserde::to_json(l.config());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recurrent)

BOOST_AUTO_TEST_CASE(lstm_sequences_and_state_match_reference_loop) {
  const int B = 2, T = 5, D = 3, u = 4;
  auto l = kserde::layers::from_config(
      "LSTM", R"({"units": 4, "return_sequences": true, "return_state": true})");
  l->build({{-1, T, D}});
  BOOST_TEST(l->variables().empty());  // the cell owns the weights
  auto& cell = cell_of(*l);
  BOOST_TEST(cell.class_name() == "LSTMCell");
  BOOST_TEST(cell.name() == "lstm_cell");
  BOOST_REQUIRE_EQUAL(cell.variables().size(), 3u);
  BOOST_TEST(cell.variables()[0].name == "kernel");
  BOOST_TEST(cell.variables()[1].name == "recurrent_kernel");
  BOOST_TEST(cell.variables()[2].name == "bias");
  BOOST_TEST(cell.variables()[0].value.shape() == (Shape{D, 4 * u}));
  BOOST_TEST(cell.variables()[1].value.shape() == (Shape{u, 4 * u}));
  BOOST_TEST(cell.variables()[2].value.shape() == (Shape{4 * u}));
  BOOST_TEST(l->count_params() == D * 16 + u * 16 + 16);

  const Weights w = make_weights(Kind::LSTM, D, u, true, 11);
  set_cell_weights(*l, Kind::LSTM, w, D, u);
  const auto x = rnd(B * T * D, 3);
  CallContext ctx;
  auto out = l->call({tensor({B, T, D}, x)}, ctx);
  BOOST_REQUIRE_EQUAL(out.size(), 3u);
  const RefResult r = ref_rnn(Kind::LSTM, w, x, B, T, D, u);
  BOOST_TEST(out[0].shape() == (Shape{B, T, u}));
  check_close(out[0], r.seq, "sequence");
  check_close(out[1], r.h, "h");
  check_close(out[2], r.c, "c");
  const auto shapes = l->compute_output_shape({{B, T, D}});
  BOOST_REQUIRE_EQUAL(shapes.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(shapes[i] == out[i].shape());
  // Keras 3 RNNs do not support masking: the outputs carry no mask.
  BOOST_REQUIRE_EQUAL(ctx.output_masks.size(), 3u);
  BOOST_TEST(!ctx.output_masks[0].has_value());
}

BOOST_AUTO_TEST_CASE(a_sample_gives_bitwise_the_same_outputs_alone_and_in_a_batch) {
  // Every product sums each element in order whatever the number of rows, so a sequence's outputs
  // do not depend on what else is in its batch (20 rows: the packed product kernel; one: the row
  // kernel).
  const int B = 20, T = 4, D = 5;
  for (const char* cls : {"SimpleRNN", "LSTM", "GRU"}) {
    for (const char* reset_after : {"true", "false"}) {
      if (std::string(cls) != "GRU" && std::string(reset_after) == "false") continue;
      BOOST_TEST_CONTEXT(cls << " reset_after=" << reset_after) {
        auto l = kserde::layers::from_config(
            cls, std::string(R"({"units": 24, "return_sequences": true, "reset_after": )") +
                     reset_after + "}");
        l->build({{-1, T, D}});
        auto& cell = cell_of(*l);
        std::uint32_t seed = 5;
        for (auto& v : cell.variables()) {
          const auto values = rnd(static_cast<std::size_t>(v.value.num_elements()), seed++, 0.5f);
          std::copy(values.begin(), values.end(), v.value.mutable_values<float>().begin());
        }
        const Tensor x = tensor({B, T, D}, rnd(B * T * D, 77));
        CallContext ctx;
        const Tensor all = l->call({x}, ctx).at(0);
        for (std::int64_t b : {0, 7, B - 1}) {
          CallContext one_ctx;
          const Tensor one = l->call({x.slice_rows(b, b + 1)}, one_ctx).at(0);
          BOOST_TEST(one.bitwise_equal(all.slice_rows(b, b + 1)), "sample " << b);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(lstm_go_backwards_last_output) {
  const int B = 3, T = 4, D = 2, u = 3;
  auto l = kserde::layers::from_config("LSTM", R"({"units": 3, "go_backwards": true})");
  l->build({{-1, -1, D}});
  const Weights w = make_weights(Kind::LSTM, D, u, true, 21);
  set_cell_weights(*l, Kind::LSTM, w, D, u);
  const auto x = rnd(B * T * D, 4);
  CallContext ctx;
  auto out = l->call({tensor({B, T, D}, x)}, ctx);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_TEST(out[0].shape() == (Shape{B, u}));
  check_close(out[0], ref_rnn(Kind::LSTM, w, x, B, T, D, u, true).last, "last");
}

BOOST_AUTO_TEST_CASE(go_backwards_sequence_is_in_processing_order) {
  const int B = 2, T = 4, D = 3, u = 2;
  auto l = kserde::layers::from_config(
      "SimpleRNN", R"({"units": 2, "go_backwards": true, "return_sequences": true})");
  l->build({{-1, T, D}});
  const Weights w = make_weights(Kind::SimpleRNN, D, u, true, 5);
  set_cell_weights(*l, Kind::SimpleRNN, w, D, u);
  const auto x = rnd(B * T * D, 6);
  CallContext ctx;
  auto out = l->call({tensor({B, T, D}, x)}, ctx);
  check_close(out[0], ref_rnn(Kind::SimpleRNN, w, x, B, T, D, u, true).seq, "reversed sequence");
}

BOOST_AUTO_TEST_CASE(gru_reset_after_both_ways_and_no_bias) {
  const int B = 2, T = 4, D = 3, u = 3;
  struct Case {
    const char* config;
    Kind kind;
    bool bias;
    Shape bias_shape;
  };
  const Case cases[] = {
      {R"({"units": 3, "return_sequences": true, "return_state": true})", Kind::GRU, true, {2, 9}},
      {R"({"units": 3, "return_sequences": true, "return_state": true, "reset_after": false})",
       Kind::GRUResetBefore,
       true,
       {9}},
      {R"({"units": 3, "return_sequences": true, "return_state": true, "use_bias": false})",
       Kind::GRU,
       false,
       {}},
      {R"({"units": 3, "return_sequences": true, "return_state": true, "use_bias": false, "reset_after": false})",
       Kind::GRUResetBefore,
       false,
       {}},
  };
  std::uint32_t seed = 40;
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.config) {
      auto l = kserde::layers::from_config("GRU", c.config);
      l->build({{-1, T, D}});
      auto& cell = cell_of(*l);
      BOOST_TEST(cell.class_name() == "GRUCell");
      BOOST_REQUIRE_EQUAL(cell.variables().size(), c.bias ? 3u : 2u);
      if (c.bias) BOOST_TEST(cell.variables()[2].value.shape() == c.bias_shape);
      Weights w = make_weights(c.kind, D, u, c.bias, seed += 3);
      TensorList v{tensor({D, 3 * u}, w.kernel), tensor({u, 3 * u}, w.recurrent)};
      if (c.bias) v.push_back(tensor(c.bias_shape, w.bias));
      cell.set_weights(v);
      const auto x = rnd(B * T * D, seed + 1);
      CallContext ctx;
      auto out = l->call({tensor({B, T, D}, x)}, ctx);
      BOOST_REQUIRE_EQUAL(out.size(), 2u);  // [output, h]
      const RefResult r = ref_rnn(c.kind, w, x, B, T, D, u);
      check_close(out[0], r.seq, "sequence");
      check_close(out[1], r.h, "h");
    }
  }
}

BOOST_AUTO_TEST_CASE(simple_rnn_relu_without_bias) {
  const int B = 2, T = 3, D = 4, u = 5;
  auto l = kserde::layers::from_config(
      "SimpleRNN",
      R"({"units": 5, "activation": "relu", "use_bias": false, "return_state": true})");
  l->build({{-1, T, D}});
  BOOST_REQUIRE_EQUAL(cell_of(*l).variables().size(), 2u);
  const Weights w = make_weights(Kind::SimpleRNN, D, u, false, 70);
  set_cell_weights(*l, Kind::SimpleRNN, w, D, u);
  const auto x = rnd(B * T * D, 71);
  CallContext ctx;
  auto out = l->call({tensor({B, T, D}, x)}, ctx);
  const RefResult r = ref_rnn(Kind::SimpleRNN, w, x, B, T, D, u, false, {}, false, {}, {}, true);
  BOOST_REQUIRE_EQUAL(out.size(), 2u);
  check_close(out[0], r.last, "last");
  check_close(out[1], r.h, "h");
}

BOOST_AUTO_TEST_CASE(masked_steps_carry_state_and_repeat_previous_output) {
  const int B = 3, T = 5, D = 2, u = 3;
  // Sample 0: leading masked steps (output zeros until the first real step); sample 1: trailing
  // padding; sample 2: a hole in the middle.
  const std::vector<int> mask{0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1};
  std::vector<float> mask_f(mask.begin(), mask.end());
  for (bool backwards : {false, true}) {
    for (bool zero_out : {false, true}) {
      BOOST_TEST_CONTEXT("go_backwards=" << backwards << " zero_output_for_mask=" << zero_out) {
        const std::string cfg =
            std::string(
                R"({"units": 3, "return_sequences": true, "return_state": true, "go_backwards": )") +
            (backwards ? "true" : "false") + R"(, "zero_output_for_mask": )" +
            (zero_out ? "true" : "false") + "}";
        auto l = kserde::layers::from_config("LSTM", cfg);
        l->build({{-1, T, D}});
        const Weights w = make_weights(Kind::LSTM, D, u, true, 90);
        set_cell_weights(*l, Kind::LSTM, w, D, u);
        const auto x = rnd(B * T * D, 91);
        CallContext ctx;
        ctx.input_masks = {tensor({B, T}, mask_f).to(kserde::DType::Bool)};
        auto out = l->call({tensor({B, T, D}, x)}, ctx);
        const RefResult r = ref_rnn(Kind::LSTM, w, x, B, T, D, u, backwards, mask, zero_out);
        check_close(out[0], r.seq, "sequence");
        check_close(out[1], r.h, "h");
        check_close(out[2], r.c, "c");
        BOOST_TEST(!ctx.output_masks.at(0).has_value());
      }
    }
  }
  // Last output only (return_sequences=False) with trailing padding: the last real step's output.
  auto l = kserde::layers::from_config("GRU", R"({"units": 3})");
  l->build({{-1, T, D}});
  const Weights w = make_weights(Kind::GRU, D, u, true, 95);
  set_cell_weights(*l, Kind::GRU, w, D, u);
  const auto x = rnd(B * T * D, 96);
  CallContext ctx;
  ctx.input_masks = {tensor({B, T}, mask_f)};
  check_close(l->call({tensor({B, T, D}, x)}, ctx)[0],
              ref_rnn(Kind::GRU, w, x, B, T, D, u, false, mask).last, "last with mask");
}

BOOST_AUTO_TEST_CASE(initial_state_positional_and_keyword) {
  const int B = 2, T = 3, D = 2, u = 3;
  auto lstm = kserde::layers::from_config(
      "LSTM", R"({"units": 3, "return_sequences": true, "return_state": true})");
  lstm->build({{-1, T, D}, {-1, u}, {-1, u}});
  const Weights w = make_weights(Kind::LSTM, D, u, true, 100);
  set_cell_weights(*lstm, Kind::LSTM, w, D, u);
  const auto x = rnd(B * T * D, 101);
  const auto h0 = rnd(B * u, 102);
  const auto c0 = rnd(B * u, 103);
  CallContext ctx;
  auto out = lstm->call({tensor({B, T, D}, x), tensor({B, u}, h0), tensor({B, u}, c0)}, ctx);
  const RefResult r = ref_rnn(Kind::LSTM, w, x, B, T, D, u, false, {}, false, h0, c0);
  check_close(out[0], r.seq, "sequence");
  check_close(out[2], r.c, "c");
  // Built with initial states: Keras records build(sequences_shape, initial_state_shape).
  const std::string saved = kserde::to_json(*lstm->to_object_dict());
  BOOST_TEST(
      saved.find(
          R"("build_config": {"shapes_dict": {"sequences_shape": [null, 3, 2], "initial_state_shape": [[null, 3], [null, 3]]}})") !=
      std::string::npos);

  auto gru = kserde::layers::from_config("GRU", R"({"units": 3})");
  gru->build({{-1, T, D}});
  const Weights wg = make_weights(Kind::GRU, D, u, true, 104);
  set_cell_weights(*gru, Kind::GRU, wg, D, u);
  CallContext kctx;
  kctx.kwargs["initial_state"] = tensor({B, u}, h0);
  check_close(gru->call({tensor({B, T, D}, x)}, kctx)[0],
              ref_rnn(Kind::GRU, wg, x, B, T, D, u, false, {}, false, h0).last,
              "gru keyword state");
  BOOST_CHECK_THROW(gru->call({tensor({B, T, D}, x), tensor({B, u}, h0), tensor({B, u}, c0)}, kctx),
                    kserde::ShapeError);
}

BOOST_AUTO_TEST_CASE(configs_carry_keras_keys) {
  auto lstm = kserde::layers::from_config("LSTM", R"({"units": 4})");
  const std::string c = cfg_json(*lstm);
  for (const char* key :
       {"\"units\": 4", "\"activation\": \"tanh\"", "\"recurrent_activation\": \"sigmoid\"",
        "\"use_bias\": true", "\"unit_forget_bias\": true", "\"return_sequences\": false",
        "\"return_state\": false", "\"go_backwards\": false", "\"stateful\": false",
        "\"unroll\": false", "\"zero_output_for_mask\": false", "\"dropout\": 0.0",
        "\"recurrent_dropout\": 0.0", "\"seed\": null", "\"activity_regularizer\": null",
        "\"recurrent_initializer\": {\"module\": \"keras.initializers\", \"class_name\": "
        "\"Orthogonal\""}) {
    BOOST_TEST_CONTEXT(key) {
      BOOST_TEST(c.find(key) != std::string::npos);
    }
  }
  BOOST_TEST(c.find("\"cell\"") == std::string::npos);  // LSTM builds its cell from its own keys
  const std::string g = cfg_json(*kserde::layers::from_config("GRU", R"({"units": 2})"));
  BOOST_TEST(g.find("\"reset_after\": true") != std::string::npos);
  BOOST_TEST(g.find("unit_forget_bias") == std::string::npos);
  auto simple = kserde::layers::from_config("SimpleRNN", R"({"units": 2})");
  BOOST_TEST(!simple->config().HasMember("recurrent_activation"));
  BOOST_TEST(!simple->config().HasMember("seed"));  // SimpleRNN.get_config has no seed
  BOOST_TEST(kserde::layers::from_config("LSTM", R"({"units": 2})")->config().HasMember("seed"));
}

BOOST_AUTO_TEST_CASE(generic_rnn_with_cell_dict_matches_lstm) {
  const int B = 2, T = 3, D = 2, u = 3;
  auto l = kserde::layers::from_config(
      "RNN",
      R"({"return_sequences": true, "cell": {"module": "keras.layers", "class_name": "LSTMCell", "config": {"name": "lstm_cell", "units": 3}, "registered_name": null}})");
  l->build({{-1, T, D}});
  const Weights w = make_weights(Kind::LSTM, D, u, true, 120);
  set_cell_weights(*l, Kind::LSTM, w, D, u);
  const auto x = rnd(B * T * D, 121);
  CallContext ctx;
  check_close(l->call({tensor({B, T, D}, x)}, ctx)[0], ref_rnn(Kind::LSTM, w, x, B, T, D, u).seq,
              "RNN(LSTMCell)");
  // The saved config regenerates the cell dict (with its build_config).
  const std::string saved = kserde::to_json(*l->to_object_dict());
  BOOST_TEST(saved.find("\"class_name\": \"LSTMCell\"") != std::string::npos);
  BOOST_TEST(saved.find("\"build_config\": {\"input_shape\": [null, 2]}") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(cells_run_one_step_standalone) {
  const int B = 2, D = 3, u = 2;
  auto cell = kserde::layers::from_config("LSTMCell", R"({"units": 2})");
  cell->build({{-1, D}});
  const Weights w = make_weights(Kind::LSTM, D, u, true, 130);
  cell->set_weights(
      {tensor({D, 4 * u}, w.kernel), tensor({u, 4 * u}, w.recurrent), tensor({4 * u}, w.bias)});
  const auto x = rnd(B * D, 131);
  const auto h0 = rnd(B * u, 132);
  const auto c0 = rnd(B * u, 133);
  CallContext ctx;
  auto out = cell->call({tensor({B, D}, x), tensor({B, u}, h0), tensor({B, u}, c0)}, ctx);
  BOOST_REQUIRE_EQUAL(out.size(), 3u);  // h, [h, c]
  const RefResult r = ref_rnn(Kind::LSTM, w, x, B, 1, D, u, false, {}, false, h0, c0);
  check_close(out[0], r.h, "output");
  check_close(out[1], r.h, "h");
  check_close(out[2], r.c, "c");
}

BOOST_AUTO_TEST_CASE(build_from_config_shapes_dict) {
  auto l = kserde::layers::from_config("LSTM", R"({"units": 2})");
  auto bc = kserde::parse_json(
      R"({"shapes_dict": {"sequences_shape": [null, 4, 3], "initial_state_shape": [[null, 2], [null, 2]]}})",
      "test");
  l->build_from_config(*bc);
  BOOST_TEST(l->built());
  BOOST_TEST(cell_of(*l).variables()[0].value.shape() == (Shape{3, 8}));
}

BOOST_AUTO_TEST_CASE(errors_name_the_layer) {
  auto l = kserde::layers::from_config("LSTM", R"({"units": 2, "name": "enc"})");
  l->build({{-1, 4, 3}});
  CallContext ctx;
  try {
    l->call({tensor({2, 3}, rnd(6, 1))}, ctx);
    BOOST_FAIL("rank-2 input accepted");
  } catch (const kserde::ShapeError& e) {
    BOOST_TEST(std::string(e.what()).find("LSTM 'enc'") != std::string::npos);
  }
  BOOST_CHECK_THROW(l->call({tensor({2, 4, 5}, rnd(40, 1))}, ctx), kserde::ShapeError);
  CallContext mctx;
  mctx.input_masks = {tensor({2, 3}, rnd(6, 2))};
  BOOST_CHECK_THROW(l->call({tensor({2, 4, 3}, rnd(24, 1))}, mctx), kserde::ShapeError);
  BOOST_CHECK_THROW(kserde::layers::from_config("GRU", R"({"units": 0})"), kserde::ConfigError);
  BOOST_CHECK_THROW(kserde::layers::from_config("SimpleRNN", R"({"units": -3})"),
                    kserde::ConfigError);
  auto stateful = kserde::layers::from_config("GRU", R"({"units": 2, "stateful": true})");
  stateful->build({{2, 4, 3}});
  BOOST_CHECK_THROW(stateful->call({tensor({2, 4, 3}, rnd(24, 1))}, ctx), kserde::UnsupportedError);
}

BOOST_AUTO_TEST_SUITE_END()
