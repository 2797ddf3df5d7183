# kserde_add_plugin: build a kserde plugin (a shared library with one entry point) and the
# manifest beside it that lets kserde find what it provides without running its code.
#
#   kserde_add_plugin(<name>
#     SOURCES <file>...
#     [VERSION <version>]                      # default 0.0.0; compiled in as KSERDE_THIS_PLUGIN_VERSION
#     [PROVIDES_LAYERS "Package>Name"...]      # registered layer classes (or bare Keras class names)
#     [PROVIDES_FUNCTIONS "Package>name"...]   # registered functions
#     [PROVIDES_FORMATS "<name>:<ext>[,<ext>...]:<magic-hex>"...]
#                                              # e.g. "safetensors:.safetensors:" or
#                                              #      "legacy-h5:.h5,.hdf5:894844460d0a1a0a"
#     [LINK_LIBRARIES <lib>...]                # besides kserde::core
#     [OUTPUT_DIRECTORY <dir>]                 # default: the current binary dir
#     [INSTALL_DESTINATION <dir>]              # default: ${CMAKE_INSTALL_LIBDIR}/kserde/plugins
#     [NO_INSTALL])
#
# Creates the MODULE library target kserde_<name> (file libkserde_<name>.so) linked to
# kserde::core, writes <dir>/kserde_<name>.kserde-plugin.json, and installs both. The names must
# match the plugin's KSERDE_PLUGIN(<name>, KSERDE_THIS_PLUGIN_VERSION, ...) declaration; kserde
# refuses to load a plugin whose manifest and descriptor disagree.
include_guard(GLOBAL)
include(GNUInstallDirs)

function(_kserde_plugin_json_list out)
  set(items "")
  foreach(v IN LISTS ARGN)
    string(REPLACE "\\" "\\\\" v "${v}")
    string(REPLACE "\"" "\\\"" v "${v}")
    list(APPEND items "\"${v}\"")
  endforeach()
  list(JOIN items ", " joined)
  set(${out} "[${joined}]" PARENT_SCOPE)
endfunction()

function(kserde_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "NO_INSTALL"
    "VERSION;OUTPUT_DIRECTORY;INSTALL_DESTINATION"
    "SOURCES;PROVIDES_LAYERS;PROVIDES_FUNCTIONS;PROVIDES_FORMATS;LINK_LIBRARIES")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "kserde_add_plugin(${name}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT name MATCHES "^[A-Za-z0-9_.-]+$")
    message(FATAL_ERROR "kserde_add_plugin: plugin name '${name}' must match [A-Za-z0-9_.-]+")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "kserde_add_plugin(${name}): SOURCES is required")
  endif()
  if(NOT ARG_VERSION)
    set(ARG_VERSION "0.0.0")
  endif()
  if(NOT ARG_OUTPUT_DIRECTORY)
    set(ARG_OUTPUT_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  if(NOT ARG_INSTALL_DESTINATION)
    set(ARG_INSTALL_DESTINATION "${CMAKE_INSTALL_LIBDIR}/kserde/plugins")
  endif()
  if(NOT TARGET kserde::core)
    message(FATAL_ERROR "kserde_add_plugin(${name}): kserde::core is not defined; call find_package(kserde CONFIG REQUIRED) first")
  endif()

  set(target kserde_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE kserde::core ${ARG_LINK_LIBRARIES})
  target_compile_features(${target} PRIVATE cxx_std_20)
  target_compile_definitions(${target} PRIVATE KSERDE_THIS_PLUGIN_VERSION="${ARG_VERSION}")
  # Only the entry point is exported. -fno-gnu-unique keeps the library unloadable: GCC would
  # otherwise mark inline statics STB_GNU_UNIQUE and dlclose would never unmap the plugin.
  set_target_properties(${target} PROPERTIES
    PREFIX "lib" OUTPUT_NAME ${target}
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -fno-gnu-unique)
  endif()
  if(COMMAND kserde_set_warnings)
    kserde_set_warnings(${target})  # kserde's own tree: warnings are errors
  endif()

  # The manifest: what the plugin provides, readable without loading the library.
  _kserde_plugin_json_list(layers_json ${ARG_PROVIDES_LAYERS})
  _kserde_plugin_json_list(functions_json ${ARG_PROVIDES_FUNCTIONS})
  set(formats "")
  foreach(f IN LISTS ARG_PROVIDES_FORMATS)
    string(REPLACE ":" ";" parts "${f}")
    list(LENGTH parts n)
    if(n LESS 1 OR n GREATER 3)
      message(FATAL_ERROR "kserde_add_plugin(${name}): format '${f}' is not <name>:<ext>[,<ext>]:<magic-hex>")
    endif()
    list(GET parts 0 fname)
    set(fext "")
    set(fmagic "")
    if(n GREATER 1)
      list(GET parts 1 fext)
    endif()
    if(n GREATER 2)
      list(GET parts 2 fmagic)
    endif()
    string(TOLOWER "${fmagic}" fmagic)
    if(NOT fmagic MATCHES "^([0-9a-f][0-9a-f])*$")
      message(FATAL_ERROR "kserde_add_plugin(${name}): magic '${fmagic}' of format '${fname}' is not hex bytes")
    endif()
    string(REPLACE "," ";" fext_list "${fext}")
    _kserde_plugin_json_list(fext_json ${fext_list})
    list(APPEND formats "{\"name\": \"${fname}\", \"extensions\": ${fext_json}, \"magic\": \"${fmagic}\"}")
  endforeach()
  list(JOIN formats ", " formats_json)
  set(manifest "${ARG_OUTPUT_DIRECTORY}/${target}.kserde-plugin.json")
  file(GENERATE OUTPUT "${manifest}" CONTENT "{
  \"kserde_plugin_manifest\": 1,
  \"abi_version\": 1,
  \"name\": \"${name}\",
  \"version\": \"${ARG_VERSION}\",
  \"library\": \"$<TARGET_FILE_NAME:${target}>\",
  \"layers\": ${layers_json},
  \"functions\": ${functions_json},
  \"formats\": [${formats_json}]
}
")
  set_property(TARGET ${target} PROPERTY KSERDE_PLUGIN_MANIFEST "${manifest}")

  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION "${ARG_INSTALL_DESTINATION}")
    install(FILES "${manifest}" DESTINATION "${ARG_INSTALL_DESTINATION}")
  endif()
endfunction()
