#!/bin/sh
# Installs the system packages Gannet needs, when they are missing.
#   scripts/deps.sh run    libzmq and OpenBLAS (cgo), pkg-config: enough to build and serve
#   scripts/deps.sh test   also what the tests need: the Fashion-MNIST data set,
#                          ONNX's backend test data
# As root it uses apt-get; otherwise it says what to install and fails.
set -eu
need=""
pkg-config --exists libzmq 2>/dev/null || need="$need libzmq3-dev pkg-config"
# OpenBLAS (cgo) for the CPU engine (package accel); build with -tags noopenblas to do without
dpkg -s libopenblas-dev >/dev/null 2>&1 || need="$need libopenblas-dev"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
if [ "${1:-run}" = test ]; then
	[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need="$need dataset-fashion-mnist"
	# ONNX's own backend tests: the conformance ratchet
	dpkg -s libonnx-testdata >/dev/null 2>&1 || need="$need libonnx-testdata"
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
