# Compiler flags that the invariance contract (SPEC §K4) depends on.
#
# -ffp-contract=off: the compiler may not fuse a*b+c into an FMA on its own. Every FMA in
#   detinfer is written explicitly (std::fma or an _mm*_fmadd intrinsic), so the scalar and
#   every SIMD path round at exactly the same places.
# No fast-math flags, ever: they allow reassociation and flush-to-zero, which change bits.
add_compile_options(
  -Wall -Wextra -Wpedantic -Werror -Wshadow -Wconversion -Wno-sign-conversion
  -ffp-contract=off
  -fno-strict-aliasing)

if(DETINFER_SANITIZE)
  # -O1 -g1 (after the build type's own flags, so they win): the sanitizers' usual level, with
  # line tables for the reports. Half the compile time of -O2 -g, which CI's time limit needs.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -O1 -g1)
  add_link_options(-fsanitize=address,undefined)
endif()

if(DETINFER_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DETINFER_FUZZ=ON needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
  endif()
  # Coverage instrumentation for libFuzzer in every library; the fuzz targets link the driver.
  # Warnings stay on but not as errors: clang warns about things GCC (the product's compiler)
  # does not, and a fuzz build must not fail on them.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g -Wno-error)
  add_link_options(-fsanitize=address,undefined)
endif()

# Per-ISA translation units. A file named *_avx2.cc, *_avx512.cc or *_avx512bf16.cc is compiled for that
# instruction set and is only ever called after runtime detection (src/core/isa.h); a file named
# *_neon.cc is compiled for aarch64 only (NEON is part of its base architecture). A build holds
# the files of its own processor family only: x86-64 builds the x86 ones, aarch64 the NEON ones.
# Such files must include nothing but <immintrin.h> / <arm_neon.h>, <cstddef>, <cstdint>,
# detinfer's declaration-only *_isa.h headers and headers whose functions are all `static inline`
# (internal linkage, e.g. src/kernels/simd/*.h): an ordinary inline function (std::vector's,
# <cmath>'s) instantiated in an AVX-512 file could otherwise be the copy the linker keeps,
# and then run on a CPU without AVX-512.
set(DETINFER_AVX2_FLAGS -mavx2 -mfma -mf16c)
# -Wno-maybe-uninitialized: GCC 12's own avx512fintrin.h seeds masked intrinsics with a
# self-initialised `_mm512_undefined_epi32()`, which trips the warning in every caller.
# (GCC only: clang, used for the fuzz build, has no such warning and would warn about the flag.)
set(DETINFER_AVX512_FLAGS -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma -mf16c
    $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
# *_avx512bf16.cc: the avx512bf16 path (src/core/isa.h), AVX-512 plus the VNNI and BF16 dot
# products. Only those files may hold them: GCC would otherwise be free to emit vpdpbusd in any
# loop it vectorises, on CPUs whose avx512 path lacks it.
set(DETINFER_AVX512BF16_FLAGS ${DETINFER_AVX512_FLAGS} -mavx512vnni -mavx512bf16)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(DETINFER_ARCH x86_64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(DETINFER_ARCH aarch64)
else()
  set(DETINFER_ARCH other)  # scalar path only
endif()

# detinfer_isa_sources(VAR): drops from the source list VAR the per-ISA files of other
# processor families and gives the x86 ones their instruction-set flags.
function(detinfer_isa_sources var)
  set(kept)
  foreach(src IN LISTS ${var})
    if(src MATCHES "_(avx2|avx512|avx512bf16|neon)\\.cc$")
      # Never in a unity batch: a batch is one translation unit, and these files must not share
      # one with anything (see above).
      set_source_files_properties(${src} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
    endif()
    if(src MATCHES "_avx512bf16\\.cc$")
      if(NOT DETINFER_ARCH STREQUAL "x86_64")
        continue()
      endif()
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${DETINFER_AVX512BF16_FLAGS}")
    elseif(src MATCHES "_avx512\\.cc$")
      if(NOT DETINFER_ARCH STREQUAL "x86_64")
        continue()
      endif()
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${DETINFER_AVX512_FLAGS}")
    elseif(src MATCHES "_avx2\\.cc$")
      if(NOT DETINFER_ARCH STREQUAL "x86_64")
        continue()
      endif()
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${DETINFER_AVX2_FLAGS}")
    elseif(src MATCHES "_neon\\.cc$")
      if(NOT DETINFER_ARCH STREQUAL "aarch64")
        continue()
      endif()
    endif()
    list(APPEND kept ${src})
  endforeach()
  set(${var} ${kept} PARENT_SCOPE)
endfunction()
