// The legacy_h5 plugin: registers the Keras 2 style .h5 / .hdf5 full-model format.
#include "kserde/plugin.hpp"
#include "kserde_plugins/legacy_h5.hpp"

namespace {

void register_legacy_h5(kserde::PluginRegistrar& registrar) {
  registrar.add_format(kserde::legacy_h5::make_format());
}

}  // namespace

KSERDE_PLUGIN(legacy_h5, KSERDE_THIS_PLUGIN_VERSION, register_legacy_h5,
              KSERDE_FORMAT("legacy_h5", ".h5;.hdf5", "894844460d0a1a0a"));
