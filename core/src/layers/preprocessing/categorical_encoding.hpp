// Keras's encode_categorical_inputs (keras.src.utils.numerical_utils), shared by CategoryEncoding
// and Discretization: integer indices to one-hot, multi-hot or count vectors of `depth` entries.
#pragma once

#include <cstdint>
#include <string>

#include "kserde/tensor.hpp"

namespace kserde::detail {

enum class CategoricalMode { OneHot, MultiHot, Count };

// "one_hot", "multi_hot" (and Keras's alias "binary"), "count"; ConfigError naming `who` otherwise.
CategoricalMode parse_categorical_mode(const std::string& value, const std::string& who);

// The output shape Keras's NumPy and JAX backends compute for indices of `in`:
// one_hot: `in` with a trailing 1 dropped (rank > 1), then `depth`;
// multi_hot and count: rank 0 and 1 give (depth); rank r >= 2 reduces axis 1, giving
// (in[0], in[2], ..., in[r-1], depth).
Shape categorical_output_shape(const Shape& in, CategoricalMode mode, std::int64_t depth);

// Encodes `indices` (any integer dtype, or floats truncated toward zero as Keras's cast to int)
// into a `dtype` tensor of categorical_output_shape(). An index outside [0, depth) contributes
// nothing (a row of zeros for one_hot), as TensorFlow's and JAX's one_hot. `count_weights`, when
// given (count mode only), has the indices' shape and weights each occurrence; the output then
// takes its dtype.
Tensor encode_categorical(const Tensor& indices, CategoricalMode mode, std::int64_t depth,
                          DType dtype, const Tensor* count_weights, const std::string& who);

}  // namespace kserde::detail
