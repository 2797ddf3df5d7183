// Building layers in code, with the same default configs Keras writes (so that a kserde-built
// model saves a file Python Keras loads unchanged). An empty name means "choose one": the model
// makes it unique (dense, dense_1, ...).
#pragma once

#include <memory>
#include <string>

#include "kserde/layer.hpp"

namespace kserde::layers {

// keras.Input(shape): an InputLayer with batch_shape (None, *shape).
std::shared_ptr<Layer> Input(const Shape& shape, DType dtype = DType::Float32,
                             const std::string& name = "");
std::shared_ptr<Layer> Dense(std::int64_t units, const std::string& activation = "linear",
                             bool use_bias = true, const std::string& name = "");
std::shared_ptr<Layer> Activation(const std::string& activation, const std::string& name = "");
std::shared_ptr<Layer> Dropout(double rate, const std::string& name = "");
std::shared_ptr<Layer> Flatten(const std::string& name = "");
std::shared_ptr<Layer> Reshape(const Shape& target_shape, const std::string& name = "");

// Any registered class from a config dict given as JSON text, e.g.
// from_config("Dense", R"({"units": 4})"): missing keys take Keras's defaults.
std::shared_ptr<Layer> from_config(const std::string& class_name, const std::string& config_json);

}  // namespace kserde::layers
