#!/usr/bin/env bash
# Fails if a per-ISA object file (*_avx2.cc.o, *_avx512.cc.o) defines a weak (COMDAT) symbol.
#
# Why: an inline function or template instantiated in an AVX-512 translation unit is emitted as
# a weak symbol, and the linker may keep *that* copy for every caller — which then executes
# AVX-512 instructions on a CPU without them. ISA files must define only their entry points and
# internal-linkage helpers (cmake/Flags.cmake states the rule; this test enforces it).
set -euo pipefail
status=0
checked=0
for obj in "$@"; do
  case "$obj" in *_avx2.cc.o|*_avx512.cc.o) ;; *) continue ;; esac
  checked=$((checked + 1))
  # DW.ref.__gxx_personality_v0 is the exception-handling personality pointer (data emitted
  # wherever a function may unwind), not code compiled for the ISA.
  weak=$(nm -C --defined-only "$obj" | awk '$2 ~ /^[WVu]$/ && $3 !~ /^DW\.ref\./' || true)
  if [ -n "$weak" ]; then
    echo "FAIL $obj defines weak symbols:"
    echo "$weak" | sed 's/^/  /'
    status=1
  fi
done
if [ "$checked" -eq 0 ]; then
  echo "FAIL no per-ISA object files were given"
  exit 1
fi
echo "checked $checked per-ISA object files"
exit $status
