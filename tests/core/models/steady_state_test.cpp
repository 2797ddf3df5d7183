// Steady-state predictions make no heap allocation: models built from the common layer kinds
// are called repeatedly and every malloc-family call during the counted calls is seen by an
// interposed malloc (allocation_counter.hpp). Recycled buffers must not change results: each
// call's output is bitwise the first call's.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <string>
#include <utility>
#include <vector>

#include "kserde/initializers.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "ops/thread_pool.hpp"
#include "test_support.hpp"
#define KSERDE_TEST_INTERPOSE_MALLOC  // this executable's one definition of the counting malloc
#include "allocation_counter.hpp"

namespace bdata = boost::unit_test::data;
using namespace kserde;

namespace {

struct Spec {
  std::string name;
  Shape input;                                              // without the batch dimension
  std::vector<std::pair<std::string, std::string>> layers;  // class name, config JSON
  bool integer_input = false;
};

std::ostream& operator<<(std::ostream& os, const Spec& s) {
  return os << s.name;
}

std::vector<Spec> specs() {
  return {
      {"image_preprocessing",
       {8, 10, 3},
       {{"RandomFlip", R"({"mode": "horizontal"})"},
        {"RandomRotation", R"({"factor": 0.1})"},
        {"Resizing", R"({"height": 6, "width": 6})"},
        {"CenterCrop", R"({"height": 4, "width": 4})"},
        {"Rescaling", R"({"scale": 0.00392156862745098})"},
        {"Conv2D", R"({"filters": 4, "kernel_size": 3})"},
        {"GlobalAveragePooling2D", "{}"},
        {"Dense", R"({"units": 2})"}}},
      {"conv1d_pooling",
       {40, 6},
       {{"Conv1D", R"({"filters": 16, "kernel_size": 5, "padding": "same", "activation": "relu"})"},
        {"MaxPooling1D", R"({"pool_size": 2})"},
        {"Conv1D", R"({"filters": 8, "kernel_size": 3, "dilation_rate": 2})"},
        {"GlobalAveragePooling1D", "{}"},
        {"Dense", R"({"units": 4, "activation": "softmax"})"}}},
      {"conv2d_family",
       {24, 24, 3},
       {{"Conv2D", R"({"filters": 24, "kernel_size": 3, "strides": 2, "padding": "same"})"},
        {"BatchNormalization", "{}"},
        {"ReLU", "{}"},
        {"DepthwiseConv2D", R"({"kernel_size": 3, "padding": "same"})"},
        {"SeparableConv2D", R"({"filters": 32, "kernel_size": 3})"},
        {"AveragePooling2D", R"({"pool_size": 2})"},
        {"GlobalMaxPooling2D", "{}"},
        {"Dense", R"({"units": 10})"}}},
      {"conv2d_wide_batchnorm",
       {32, 32, 16},
       {{"Conv2D", R"({"filters": 64, "kernel_size": 3, "padding": "same", "use_bias": false})"},
        {"BatchNormalization", "{}"},
        {"Activation", R"({"activation": "swish"})"},
        {"MaxPooling2D", R"({"pool_size": 2})"},
        {"Conv2D", R"({"filters": 64, "kernel_size": 1})"},
        {"Flatten", "{}"},
        {"Dense", R"({"units": 3})"}}},
      {"upsampling_transpose",
       {8, 8, 4},
       {{"Conv2DTranspose", R"({"filters": 6, "kernel_size": 3, "strides": 2, "padding": "same"})"},
        {"UpSampling2D", R"({"size": 2})"},
        {"ZeroPadding2D", R"({"padding": 1})"},
        {"Cropping2D", R"({"cropping": 2})"},
        {"Conv2D", R"({"filters": 2, "kernel_size": 3})"}}},
      {"recurrent",
       {12, 5},
       {{"LSTM", R"({"units": 16, "return_sequences": true})"},
        {"GRU", R"({"units": 8, "return_sequences": true})"},
        {"SimpleRNN", R"({"units": 4})"},
        {"Dense", R"({"units": 2})"}}},
      // Activations of 4 MiB and more (at 16 rows), which take mapped rather than malloc'd memory.
      {"large_activations",
       {64, 64, 16},
       {{"BatchNormalization", "{}"},
        {"DepthwiseConv2D", R"({"kernel_size": 3, "padding": "same"})"},
        {"ReLU", "{}"},
        {"Conv2DTranspose", R"({"filters": 16, "kernel_size": 3, "padding": "same"})"},
        {"ZeroPadding2D", R"({"padding": 1})"},
        {"Cropping2D", R"({"cropping": 1})"},
        {"UpSampling2D", R"({"size": 2})"},
        {"MaxPooling2D", R"({"pool_size": 4})"},
        {"Conv2D", R"({"filters": 8, "kernel_size": 1})"},
        {"GlobalAveragePooling2D", "{}"},
        {"Dense", R"({"units": 2})"}}},
      {"embedding_masked_lstm",
       {10},
       {{"Embedding", R"({"input_dim": 50, "output_dim": 8, "mask_zero": true})"},
        {"LSTM", R"({"units": 6})"},
        {"Dense", R"({"units": 1, "activation": "sigmoid"})"}},
       true},
      {"dense_normalization_reshape",
       {6, 8},
       {{"LayerNormalization", "{}"},
        {"Dense", R"({"units": 12, "activation": "gelu"})"},
        {"Dropout", R"({"rate": 0.5})"},
        {"Permute", R"({"dims": [2, 1]})"},
        {"Reshape", R"({"target_shape": [24, 3]})"},
        {"Softmax", "{}"},
        {"Flatten", "{}"},
        {"Dense", R"({"units": 5})"}}},
  };
}

std::shared_ptr<Model> build(const Spec& spec) {
  auto model = std::make_shared<Sequential>(spec.name);
  model->add(layers::Input(spec.input, spec.integer_input ? DType::Int32 : DType::Float32));
  for (const auto& [cls, config] : spec.layers) model->add(layers::from_config(cls, config));
  initialize_weights(*model, 7);
  return model;
}

Tensor input_for(const Spec& spec, std::int64_t batch) {
  Shape shape = spec.input;
  shape.insert(shape.begin(), batch);
  if (!spec.integer_input) return test::random_tensor(shape, 11);
  Tensor x(shape, DType::Int32);
  auto v = x.mutable_values<std::int32_t>();
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int32_t>((i * 7) % 13);
  return x;  // zeros included: the mask is exercised
}

struct LayerSpec {
  std::string class_name;
  std::string config;
  std::vector<Shape> inputs;  // concrete shapes, batch first
};

std::ostream& operator<<(std::ostream& os, const LayerSpec& s) {
  return os << s.class_name << " " << s.config;
}

// Layers the models above do not reach, called directly (several take more than one input).
std::vector<LayerSpec> layer_specs() {
  return {
      {"MultiHeadAttention", R"({"num_heads": 2, "key_dim": 4})", {{3, 5, 8}, {3, 7, 8}}},
      {"Attention", R"({"use_scale": true})", {{3, 5, 8}, {3, 7, 8}}},
      {"AdditiveAttention", "{}", {{3, 5, 8}, {3, 7, 8}}},
      {"EinsumDense",
       R"({"equation": "abc,cd->abd", "output_shape": [null, 6], "bias_axes": "d"})",
       {{3, 5, 8}}},
      {"Dot", R"({"axes": [2, 2]})", {{3, 5, 8}, {3, 7, 8}}},
      {"Add", "{}", {{4, 6}, {4, 6}}},
      {"Subtract", "{}", {{4, 6}, {4, 6}}},
      {"Multiply", "{}", {{4, 6}, {4, 6}}},
      {"Average", "{}", {{4, 6}, {4, 6}}},
      {"Maximum", "{}", {{4, 6}, {4, 6}}},
      {"Minimum", "{}", {{4, 6}, {4, 6}}},
      {"Concatenate", R"({"axis": 1})", {{4, 6}, {4, 3}}},
      {"Bidirectional",
       R"({"layer": {"module": "keras.layers", "class_name": "LSTM", "config": {"units": 5, "return_sequences": true}, "registered_name": null}})",
       {{2, 6, 3}}},
      {"TimeDistributed",
       R"({"layer": {"module": "keras.layers", "class_name": "Dense", "config": {"units": 4}, "registered_name": null}})",
       {{2, 6, 3}}},
      {"Conv3D", R"({"filters": 4, "kernel_size": 2})", {{2, 5, 5, 5, 3}}},
      {"Conv3DTranspose", R"({"filters": 2, "kernel_size": 2, "strides": 2})", {{2, 3, 3, 3, 3}}},
      {"Conv1DTranspose", R"({"filters": 3, "kernel_size": 3, "strides": 2})", {{2, 7, 4}}},
      {"SeparableConv1D", R"({"filters": 5, "kernel_size": 3})", {{2, 9, 4}}},
      {"DepthwiseConv1D", R"({"kernel_size": 3, "depth_multiplier": 2})", {{2, 9, 4}}},
      {"MaxPooling3D", R"({"pool_size": 2})", {{2, 4, 4, 4, 3}}},
      {"AveragePooling1D", R"({"pool_size": 3, "strides": 1, "padding": "same"})", {{2, 9, 4}}},
      {"GlobalAveragePooling3D", "{}", {{2, 4, 4, 4, 3}}},
      {"AdaptiveAveragePooling2D", R"({"output_size": [3, 2]})", {{2, 7, 5, 3}}},
      {"GroupNormalization", R"({"groups": 2})", {{2, 5, 6}}},
      {"UnitNormalization", "{}", {{2, 5, 6}}},
      {"RMSNormalization", "{}", {{2, 5, 6}}},
      {"Normalization", R"({"axis": -1, "mean": 0.5, "variance": 2.0})", {{2, 5, 6}}},
      {"PReLU", "{}", {{2, 5, 6}}},
      {"LeakyReLU", "{}", {{2, 5, 6}}},
      {"ELU", "{}", {{2, 5, 6}}},
      {"Softmax", R"({"axis": 1})", {{2, 5, 6}}},
      {"Rescaling", R"({"scale": 0.5, "offset": 1.0})", {{2, 5, 6}}},
      {"RepeatVector", R"({"n": 3})", {{2, 6}}},
      {"Masking", R"({"mask_value": 0.0})", {{2, 5, 6}}},
      {"GaussianNoise", R"({"stddev": 0.1})", {{2, 5, 6}}},
      {"SpatialDropout1D", R"({"rate": 0.2})", {{2, 5, 6}}},
      {"UpSampling1D", R"({"size": 2})", {{2, 5, 6}}},
      {"UpSampling3D", R"({"size": 2})", {{2, 2, 3, 2, 3}}},
      {"ZeroPadding3D", R"({"padding": 1})", {{2, 2, 3, 2, 3}}},
      {"Cropping1D", R"({"cropping": [1, 2]})", {{2, 7, 3}}},
      {"Resizing", R"({"height": 5, "width": 3})", {{2, 4, 6, 3}}},
      {"Resizing",
       R"({"height": 3, "width": 3, "interpolation": "nearest", "crop_to_aspect_ratio": true})",
       {{2, 4, 6, 3}}},
      {"Resizing",
       R"({"height": 4, "width": 4, "pad_to_aspect_ratio": true, "antialias": true})",
       {{2, 2, 6, 3}}},
      {"CenterCrop", R"({"height": 2, "width": 3})", {{2, 4, 6, 3}}},
      {"CenterCrop", R"({"height": 8, "width": 8})", {{2, 4, 6, 3}}},
      {"AutoContrast", R"({"value_range": [-1, 1]})", {{2, 4, 6, 3}}},
      {"RandomFlip", R"({"mode": "horizontal"})", {{2, 4, 6, 3}}},
      {"RandomRotation", R"({"factor": 0.1})", {{2, 4, 6, 3}}},
      {"Identity", "{}", {{2, 5}}},
      {"ActivityRegularization", R"({"l1": 0.01})", {{2, 5}}},
      {"AlphaDropout", R"({"rate": 0.2})", {{2, 5}}},
      {"GaussianDropout", R"({"rate": 0.2})", {{2, 5}}},
      {"SpatialDropout2D", R"({"rate": 0.2})", {{2, 4, 4, 3}}},
      {"AveragePooling3D", R"({"pool_size": 2})", {{2, 4, 4, 4, 3}}},
      {"GlobalMaxPooling1D", "{}", {{2, 7, 3}}},
      {"AdaptiveMaxPooling1D", R"({"output_size": 3})", {{2, 7, 3}}},
      {"Cropping3D", R"({"cropping": 1})", {{2, 4, 4, 4, 3}}},
      {"ZeroPadding1D", R"({"padding": 2})", {{2, 5, 3}}},
      {"LSTMCell", R"({"units": 4})", {{3, 5}, {3, 4}, {3, 4}}},
      {"RNN",
       R"({"cell": {"module": "keras.layers", "class_name": "GRUCell", "config": {"units": 4}, "registered_name": null}, "return_sequences": true})",
       {{2, 6, 3}}},
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(steady_state)

BOOST_DATA_TEST_CASE(repeated_layer_calls_make_no_heap_allocation, bdata::make(layer_specs()),
                     spec) {
  if (!test::kAllocationCounting) {
    BOOST_TEST_MESSAGE("allocation counting needs glibc's malloc; not under a sanitizer");
    return;
  }
  auto layer = layers::from_config(spec.class_name, spec.config);
  std::vector<Shape> symbolic;
  TensorList inputs;
  unsigned seed = 3;
  for (const Shape& s : spec.inputs) {
    Shape sym = s;
    sym[0] = -1;
    symbolic.push_back(sym);
    inputs.push_back(test::random_tensor(s, seed++));
  }
  layer->build(symbolic);
  initialize_weights(*layer, 5);
  ops::set_num_threads(1);
  auto call = [&] {
    CallContext ctx;
    return layer->call(inputs, ctx);
  };
  TensorList out = call();
  const Tensor first = out.at(0).clone();
  for (int warm = 0; warm < 5; ++warm) out = call();
  bool same = true;
  const long allocations = test::allocations_during([&] {
    for (int c = 0; c < 5; ++c) {
      out = call();
      same = same && out.at(0).bitwise_equal(first);
    }
  });
  ops::set_num_threads(0);
  BOOST_TEST(same, spec.class_name << ": a repeated call differs from the first");
  BOOST_TEST(allocations == 0,
             spec.class_name << ": " << allocations << " heap allocations in 5 calls");
}

BOOST_DATA_TEST_CASE(repeated_predictions_make_no_heap_allocation, bdata::make(specs()), spec) {
  if (!test::kAllocationCounting) {
    BOOST_TEST_MESSAGE("allocation counting needs glibc's malloc; not under a sanitizer");
    return;
  }
  auto model = build(spec);
  for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    ops::set_num_threads(threads);
    for (const std::int64_t rows : {std::int64_t{1}, std::int64_t{16}}) {
      const Tensor x = input_for(spec, rows);
      Tensor out = model->predict(x);
      const Tensor first = out.clone();
      test::warm_up_until_steady([&] { out = model->predict(x); });
      bool same = true;
      const long allocations = test::allocations_during([&] {
        for (int call = 0; call < 5; ++call) {
          out = model->predict(x);
          same = same && out.bitwise_equal(first);
        }
      });
      BOOST_TEST(same, spec.name << ": a repeated prediction differs from the first");
      BOOST_TEST(allocations == 0, spec.name << ", " << threads << " thread(s), " << rows
                                             << " row(s): " << allocations
                                             << " heap allocations in 5 predictions");
    }
  }
  ops::set_num_threads(0);
}

BOOST_AUTO_TEST_SUITE_END()
