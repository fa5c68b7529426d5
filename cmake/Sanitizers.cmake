# Sanitizer and fuzzing builds (options GRADLAB_SANITIZE and GRADLAB_FUZZ, declared in the top-level CMakeLists).
#
# GRADLAB_SANITIZE: every target (framework, plugins, test plugins, tests, fuzz targets) is compiled and linked
# with AddressSanitizer and UndefinedBehaviorSanitizer. Any report fails the process:
#   -fno-sanitize-recover=all   UB aborts instead of printing and going on, so a test with UB fails;
#   -fno-omit-frame-pointer     complete, cheap stack traces;
#   -fsanitize=float-cast-overflow   GCC leaves it out of -fsanitize=undefined (clang includes it): a double
#                               outside the range of the integer it is converted to is UB all the same;
#   -UNDEBUG                    keeps Eigen's bounds and size assertions (eigen_assert) on in every build type;
#   -g1 (Release, MinSizeRel)   line tables, so that reports say file:line.
# Floating-point division by zero is not enabled: gradlab relies on IEEE infinities and NaNs (divergence detection).
#
# Plugins are dlopen'ed (Boost.DLL) and dlclose'd when their PluginHost and the objects they made go away. A
# library that is unloaded before the process exits leaves LeakSanitizer with stack frames it cannot symbolise
# ("<unknown module>") and, worse, with heap blocks that were reachable only from the unloaded library's globals.
# Rather than suppressing leak reports by pattern (which would also hide real leaks in plugins), plugin modules
# are linked with -z nodelete under the sanitizers: dlclose() keeps them mapped, every frame of every report
# (ASan errors and leaks alike) is symbolised with the plugin's file and line, and leak checking stays exact.
# This changes nothing else: the loader's checks, registration and lifetime rules run exactly as in a normal
# build (the library's reference count still drops; only the final unmap is skipped).
#
# GRADLAB_FUZZ: the libFuzzer targets of tests/fuzz. Needs clang (CC=clang CXX=clang++); implies GRADLAB_SANITIZE
# and adds coverage instrumentation (-fsanitize=fuzzer-no-link) to every target; the fuzz targets themselves
# link with -fsanitize=fuzzer. See tests/fuzz/README.md.

if(GRADLAB_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "GRADLAB_FUZZ=ON needs clang for libFuzzer: configure a fresh build folder with "
                        "CC=clang CXX=clang++ (found ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER})")
  endif()
  set(GRADLAB_SANITIZE ON CACHE BOOL "Build with AddressSanitizer and UndefinedBehaviorSanitizer" FORCE)
endif()

if(GRADLAB_SANITIZE)
  set(GRADLAB_SANITIZER_FLAGS -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
  if(GRADLAB_FUZZ)
    list(APPEND GRADLAB_SANITIZER_FLAGS -fsanitize=fuzzer-no-link)
  endif()
  add_compile_options(${GRADLAB_SANITIZER_FLAGS} -UNDEBUG)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # The top-level CMakeLists' -Wno-maybe-uninitialized is a GCC option.
    add_compile_options(-Wno-unknown-warning-option)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Under the sanitizers GCC 12 turns its false maybe-uninitialized warnings about its own AVX-512 intrinsics
    # (`__m512 __Y = __Y;`, see the top-level CMakeLists) into -Wuninitialized ones, hundreds of them.
    add_compile_options(-Wno-uninitialized)
  endif()
  if(CMAKE_BUILD_TYPE MATCHES "^(Release|MinSizeRel)$")
    add_compile_options(-g1)
  endif()
  add_link_options(${GRADLAB_SANITIZER_FLAGS})
  # Keep dlclose'd plugins mapped (see above). CMAKE_MODULE_LINKER_FLAGS is what add_library(... MODULE) uses.
  string(APPEND CMAKE_MODULE_LINKER_FLAGS " -Wl,-z,nodelete")
  message(STATUS "gradlab: AddressSanitizer + UndefinedBehaviorSanitizer build (${GRADLAB_SANITIZER_FLAGS})")
endif()
