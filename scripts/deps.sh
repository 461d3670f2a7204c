#!/bin/sh
# Installs the system packages Gannet needs, when they are missing.
#   scripts/deps.sh run    libzmq (cgo) and pkg-config: enough to build and serve
#   scripts/deps.sh test   also the Fashion-MNIST data set the tests read
# As root it uses apt-get; otherwise it says what to install and fails.
set -eu
need=""
pkg-config --exists libzmq 2>/dev/null || need="$need libzmq3-dev pkg-config"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
if [ "${1:-run}" = test ] && [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
	need="$need dataset-fashion-mnist"
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
