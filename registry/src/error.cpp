#include "kserde/error.hpp"

namespace kserde {

void rethrow_with_context(const std::string& prefix) {
  try {
    throw;
  } catch (const LimitError& e) {
    throw LimitError(prefix + e.what());
  } catch (const FormatError& e) {
    throw FormatError(prefix + e.what());
  } catch (const UnknownObjectError& e) {
    throw UnknownObjectError(prefix + e.what());
  } catch (const ConfigError& e) {
    throw ConfigError(prefix + e.what());
  } catch (const IoError& e) {
    throw IoError(prefix + e.what());
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(prefix + e.what());
  } catch (const ShapeError& e) {
    throw ShapeError(prefix + e.what());
  } catch (const SafeModeError& e) {
    throw SafeModeError(prefix + e.what());
  } catch (const PluginError& e) {
    throw PluginError(prefix + e.what());
  } catch (const Error& e) {
    throw Error(prefix + e.what());
  }
}

}  // namespace kserde
