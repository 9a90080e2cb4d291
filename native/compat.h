// Differences between libtorch 1.13 (Debian) and 2.x, kept in one place.
#pragma once
#include <ATen/ATen.h>
#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif

#ifndef TORCH_VERSION_MAJOR
#define TORCH_VERSION_MAJOR 1
#define TORCH_VERSION_MINOR 0
#define TORCH_VERSION_PATCH 0
#endif

#if TORCH_VERSION_MAJOR >= 2
#include <optional>
template <class T> using Opt = std::optional<T>;
#define CLAN_NULLOPT std::nullopt
#else
#include <c10/util/Optional.h>
template <class T> using Opt = c10::optional<T>;
#define CLAN_NULLOPT c10::nullopt
#endif

// native/config.js defines CLAN_WITH_CUDA when libtorch has CUDA libraries and the CUDA runtime's headers were found.
#if defined(CLAN_WITH_CUDA) && __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#define CLAN_HAS_CUDA_HEADERS 1
#endif

// c10::Allocator::allocate lost its const in PyTorch 2.3, which also added the pure virtual copy_data.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define CLAN_ALLOCATE_CONST
#else
#define CLAN_ALLOCATE_CONST const
#endif
