// kserde's one error hierarchy. Every failure that crosses the library boundary is one of these.
//
//   Error                      base; what() is one line naming the file, the object and what to do
//   ├── IoError                the operating system refused (missing file, permission, disk full)
//   ├── FormatError            the bytes are not what the format says (corrupt, truncated, hostile)
//   │   └── LimitError         a configured safety limit was exceeded (bombs, absurd sizes)
//   ├── UnsupportedError       valid input that kserde does not implement (an HDF5 feature, a layer)
//   ├── ConfigError            a config is well-formed JSON but not a valid Keras object
//   │   └── UnknownObjectError a class or function name that nothing provides
//   ├── ShapeError             tensor or weight shapes or counts that do not match
//   ├── SafeModeError          loading would run code the file chose (Lambda, __lambda__)
//   └── PluginError            a plugin failed to load, register or is of another ABI
#pragma once

#include <stdexcept>
#include <string>

namespace kserde {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class IoError : public Error {
 public:
  using Error::Error;
};

class FormatError : public Error {
 public:
  using Error::Error;
};

class LimitError : public FormatError {
 public:
  using FormatError::FormatError;
};

class UnsupportedError : public Error {
 public:
  using Error::Error;
};

class ConfigError : public Error {
 public:
  using Error::Error;
};

class UnknownObjectError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

class ShapeError : public Error {
 public:
  using Error::Error;
};

class SafeModeError : public Error {
 public:
  using Error::Error;
};

class PluginError : public Error {
 public:
  using Error::Error;
};

// Inside a catch block: rethrows the exception being handled as the same kserde error type with
// `prefix` put in front of its message (adds context at a boundary without losing the type).
[[noreturn]] void rethrow_with_context(const std::string& prefix);

}  // namespace kserde
