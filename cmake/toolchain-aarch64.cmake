# Cross build for aarch64 Linux with Debian's cross compiler (g++-aarch64-linux-gnu), run under
# Debian's user-mode emulator (qemu-user). Target libraries are Debian's multiarch :arm64 packages
# in /usr/lib/aarch64-linux-gnu (scripts/cross-arm64.sh installs them); headers-only packages
# (CLI11, nlohmann-json) are shared with the host. Used by `make cross-arm64` (docs/kernels.md).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# gtest_discover_tests and add_test run target programs through this.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
# Target .pc files only (never the host's x86 ones).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
