// Weight initialization (keras.initializers) for layers built in C++. Each variable is filled by
// the initializer its layer's config names (kernel_initializer, bias_initializer, ...), with the
// distributions Keras uses. Values are reproducible for a seed, but are not Keras's random
// streams: a model initialized here differs from one initialized by Python Keras.
#pragma once

#include <cstdint>

#include "kserde/layer.hpp"

namespace kserde {

// Initializes every variable of `layer` and of its tracked children (a model: all of its layers).
// Throws UnsupportedError naming the layer and the initializer class for unknown initializers.
void initialize_weights(Layer& layer, std::uint64_t seed);

}  // namespace kserde
