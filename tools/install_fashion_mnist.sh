#!/usr/bin/env bash
# Unpack Fashion-MNIST from Debian's package registry without root.
# The IDX files land in ${1:-~/.local/share/sktransfer/fashion-mnist}, where
# sktransfer.datasets.load_fashion_mnist looks for them.
set -euo pipefail
dest="${1:-$HOME/.local/share/sktransfer/fashion-mnist}"
if [ -f "$dest/t10k-labels-idx1-ubyte.gz" ]; then
    echo "Fashion-MNIST already in $dest"
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download dataset-fashion-mnist >/dev/null 2>&1) || { echo "apt-get download dataset-fashion-mnist failed" >&2; exit 1; }
dpkg-deb -x "$work"/dataset-fashion-mnist_*.deb "$work/root"
mkdir -p "$dest"
cp "$work"/root/usr/share/datasets/fashion-mnist/*.gz "$dest"/
echo "Fashion-MNIST installed in $dest"
