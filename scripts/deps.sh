#!/bin/sh
# Installs the system packages Gannet needs, when they are missing.
#   scripts/deps.sh run    libzmq (cgo) and pkg-config: enough to build and serve
#   scripts/deps.sh test   also what the tests need: the Fashion-MNIST data set,
#                          ONNX's backend test data, OpenBLAS
# As root it uses apt-get; otherwise it says what to install and fails.
set -eu
need=""
pkg-config --exists libzmq 2>/dev/null || need="$need libzmq3-dev pkg-config"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
if [ "${1:-run}" = test ]; then
	[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need="$need dataset-fashion-mnist"
	# ONNX's own backend tests: the conformance ratchet
	dpkg -s libonnx-testdata >/dev/null 2>&1 || need="$need libonnx-testdata"
	# OpenBLAS (cgo) for package accel
	pkg-config --exists openblas 2>/dev/null || [ -f /usr/include/x86_64-linux-gnu/cblas.h ] || dpkg -s libopenblas-dev >/dev/null 2>&1 || need="$need libopenblas-dev"
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing:$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $need >/dev/null
else
	echo "missing system packages:$need" >&2
	echo "install them with: sudo apt-get install$need" >&2
	exit 1
fi
