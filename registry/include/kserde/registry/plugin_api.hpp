// The C-level boundary between kserde and a plugin library. Knows nothing about machine learning.
//
// A plugin is a shared library exporting ONE C function, KSERDE_PLUGIN_ENTRY_SYMBOL, that returns
// a pointer to a KserdePluginDescriptor with static storage duration. Reading the descriptor runs
// no registration code; kserde checks it (ABI version, kserde version, declared names, manifest)
// and only then calls `register_fn` with a registrar and an error buffer. The registration
// function never throws: it returns a KserdePluginStatus and, on failure, writes a message into
// the buffer. Plugins written in C++ do not fill this struct by hand: KSERDE_PLUGIN (in
// kserde/plugin.hpp) defines the entry point and converts every exception into a status code.
//
// ABI rules (see docs/plugins.md):
//   - The first two fields (abi_version, struct_size) never move. A host refuses a descriptor
//     whose abi_version differs from KSERDE_PLUGIN_ABI_VERSION, naming both numbers.
//   - A plugin must be built against the same kserde major.minor as the host (kserde_version),
//     because registered objects (layers, serializers) are C++ objects sharing kserde's C++ ABI.
//   - Every string and array the descriptor points to stays valid while the library is loaded.
#pragma once

#include <stddef.h>  // NOLINT(modernize-deprecated-headers): this header is also valid C
#include <stdint.h>  // NOLINT(modernize-deprecated-headers)

// Bumped whenever the descriptor layout or the registration contract changes.
#define KSERDE_PLUGIN_ABI_VERSION 1u
// The kserde version plugin headers belong to (checked against the project version by a test).
#define KSERDE_PLUGIN_KSERDE_VERSION "0.3.0"
// The exported entry point: `const KserdePluginDescriptor* kserde_plugin_descriptor(void)`.
#define KSERDE_PLUGIN_ENTRY_SYMBOL "kserde_plugin_descriptor"
// Manifest written beside the library by kserde_add_plugin: <name>.kserde-plugin.json.
#define KSERDE_PLUGIN_MANIFEST_SUFFIX ".kserde-plugin.json"
// Size of the error buffer the host passes to register_fn (bytes, including the NUL).
#define KSERDE_PLUGIN_ERROR_BUFFER_SIZE 2048u

#if defined(_WIN32)
#define KSERDE_PLUGIN_EXPORT __declspec(dllexport)
#else
#define KSERDE_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

// What register_fn returns.
typedef enum KserdePluginStatus {
  KSERDE_PLUGIN_OK = 0,
  KSERDE_PLUGIN_FAILED = 1,             // a kserde::Error (or a deliberate failure) in the plugin
  KSERDE_PLUGIN_STD_EXCEPTION = 2,      // another std::exception
  KSERDE_PLUGIN_UNKNOWN_EXCEPTION = 3,  // anything else that was thrown
} KserdePluginStatus;

// A file format a plugin provides.
typedef struct KserdePluginFormat {
  const char* name;        // unique format name, e.g. "safetensors"
  const char* extensions;  // ';'-separated file name endings, e.g. ".safetensors;.st"; may be ""
  const char* magic;       // the file's first bytes as lowercase hex, e.g. "89484446"; may be ""
} KserdePluginFormat;

// Opaque to C; kserde::PluginRegistrar (kserde/plugin.hpp) derives from it.
typedef struct KserdePluginRegistrar {
  uint32_t abi_version;
} KserdePluginRegistrar;

typedef int (*KserdePluginRegisterFn)(KserdePluginRegistrar* registrar, char* error_buffer,
                                      size_t error_buffer_size);

typedef struct KserdePluginDescriptor {
  uint32_t abi_version;          // KSERDE_PLUGIN_ABI_VERSION the plugin was built with
  uint32_t struct_size;          // sizeof(KserdePluginDescriptor) as the plugin saw it
  const char* kserde_version;    // KSERDE_PLUGIN_KSERDE_VERSION the plugin was built against
  const char* name;              // [A-Za-z0-9_.-]+, unique among loaded plugins
  const char* version;           // the plugin's own version, free text
  const char* const* layers;     // NULL-terminated: "Package>Name" (or a bare Keras class name)
  const char* const* functions;  // NULL-terminated: "Package>name"
  const KserdePluginFormat* formats;  // `format_count` entries
  uint32_t format_count;
  KserdePluginRegisterFn register_fn;
} KserdePluginDescriptor;

typedef const KserdePluginDescriptor* (*KserdePluginEntryFn)(void);

#ifdef __cplusplus
}  // extern "C"
#endif
