#!/usr/bin/env bash
# Installs the Debian packages detinfer builds with, if any are missing.
# As root it runs apt-get itself; otherwise it prints the exact command to run.
set -euo pipefail
packages=(cmake ninja-build g++ make pkg-config libgtest-dev libgmock-dev libbenchmark-dev
          libcli11-dev nlohmann-json3-dev libxxhash-dev libpcre2-dev libicu-dev libcpp-httplib-dev
          libsentencepiece-dev zlib1g-dev
          pybind11-dev python3-dev  # the Python package (python/, README "Python")
          haproxy curl)  # scripts/fleet.sh and its test (docs/fleet.md)
packages+=("$@")  # extra packages a target asks for (e.g. gnuplot-nox for `make bench`)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "detinfer: missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "detinfer: run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
