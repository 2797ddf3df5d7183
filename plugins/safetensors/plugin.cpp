// The safetensors plugin: registers the .safetensors weights format.
#include "kserde/plugin.hpp"
#include "kserde_plugins/safetensors.hpp"

namespace {

void register_safetensors(kserde::PluginRegistrar& registrar) {
  registrar.add_format(kserde::safetensors::make_format());
}

}  // namespace

KSERDE_PLUGIN(safetensors, KSERDE_THIS_PLUGIN_VERSION, register_safetensors,
              KSERDE_FORMAT("safetensors", ".safetensors", ""));
