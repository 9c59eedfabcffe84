#!/usr/bin/env bash
# Build Horovod 0.28.1 (its last release) against the venv's torch, once, and cache the wheel.
#
# Horovod 0.28.1 as published sets CMAKE_CXX_STANDARD 14 in CMakeLists.txt and in
# horovod/torch/CMakeLists.txt; torch >= 2.1 needs C++17. We download the sdist from the
# package index, change both lines to 17, build with Gloo only (no MPI, TF, MXNet), and keep
# the wheel in a cache keyed by the torch version so later runs reuse it.
#
# usage: .ci/build_horovod.sh PATH/TO/venv/bin/python
set -euo pipefail
PY="${1:-.venv/bin/python}"
HVD_VERSION=0.28.1
TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
CACHE="${ICEFB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/icefb}/horovod/${HVD_VERSION}-torch${TORCH_VERSION}-${PYTAG}"

if "$PY" - <<PYEOF 2>/dev/null
import importlib.metadata as m, sys
sys.exit(0 if m.version("horovod") == "$HVD_VERSION" else 1)
PYEOF
then
  if "$PY" -c 'import horovod.torch' 2>/dev/null; then
    echo "horovod $HVD_VERSION already installed for torch $TORCH_VERSION"
    exit 0
  fi
fi

mkdir -p "$CACHE"
WHEEL="$(ls "$CACHE"/horovod-*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$WHEEL" ]; then
  echo "building horovod $HVD_VERSION for torch $TORCH_VERSION (takes a few minutes, once)"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  "$PY" -m pip download --quiet --no-deps --no-binary :all: "horovod==$HVD_VERSION" -d "$WORK"
  tar -xzf "$WORK"/horovod-"$HVD_VERSION".tar.gz -C "$WORK"
  SRC="$WORK/horovod-$HVD_VERSION"
  for f in "$SRC/CMakeLists.txt" "$SRC/horovod/torch/CMakeLists.txt"; do
    grep -q 'CMAKE_CXX_STANDARD 14' "$f" || { echo "unexpected $f: no CMAKE_CXX_STANDARD 14" >&2; exit 1; }
    sed -i 's/CMAKE_CXX_STANDARD 14/CMAKE_CXX_STANDARD 17/' "$f"
  done
  HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
  HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_CPU_OPERATIONS=gloo \
  MAKEFLAGS="-j$(nproc)" \
    "$PY" -m pip wheel --no-build-isolation --no-deps -w "$WORK/wheel" "$SRC"
  cp "$WORK"/wheel/horovod-*.whl "$CACHE"/
  WHEEL="$(ls "$CACHE"/horovod-*.whl | head -n1)"
fi
"$PY" -m pip install --quiet --no-deps "$WHEEL"
"$PY" -c 'import horovod.torch as hvd; print("horovod", hvd.__version__ if hasattr(hvd, "__version__") else "", "gloo built:", hvd.gloo_built())'
