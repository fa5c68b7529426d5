#pragma once
/// @file visibility.hpp
/// Symbol visibility. Plugins are built with hidden visibility; SDK types keep default visibility so that
/// their type information (exceptions, RTTI) is one and the same in the host and in every plugin.

#if defined(__GNUC__)
#define GRADLAB_API __attribute__((visibility("default")))
#else
#define GRADLAB_API
#endif
