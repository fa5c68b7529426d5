# gradlab_add_plugin(NAME SOURCES file.cpp... [OUTPUT_DIRECTORY dir])
# Builds a plugin library: a module against the SDK headers only, hidden visibility, exporting its entry point.
#
# Works in the gradlab tree and from the installed package (find_package(gradlab) includes this file). The
# library goes to OUTPUT_DIRECTORY if given, else GRADLAB_PLUGIN_OUTPUT_DIR if the caller set it (the gradlab tree
# does: build/lib/gradlab/plugins), else where CMake puts libraries by default (CMAKE_LIBRARY_OUTPUT_DIRECTORY,
# or the caller's current build folder), ready for `gradlab ... --plugin-path <that folder>`.
# The flags that matter for the ABI (C++17, -march=native when the host has it, Eigen) come with gradlab::sdk.
function(gradlab_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "gradlab_add_plugin(${name}): SOURCES is required")
  endif()
  if(NOT TARGET gradlab::sdk)
    message(FATAL_ERROR "gradlab_add_plugin(${name}): no target gradlab::sdk; call find_package(gradlab) first")
  endif()
  if(NOT ARG_OUTPUT_DIRECTORY AND DEFINED GRADLAB_PLUGIN_OUTPUT_DIR)
    set(ARG_OUTPUT_DIRECTORY ${GRADLAB_PLUGIN_OUTPUT_DIR})
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE gradlab::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
endfunction()
