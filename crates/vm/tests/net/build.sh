#!/bin/sh
# Rebuilds xdp.o from xdp.c, the XDP programs crates/vm/tests/net_xdp.rs runs in bpfkit
# and in the kernel.
set -eu
cd "$(dirname "$0")"
clang-19 -O2 -g -target bpf -I/usr/include/$(uname -m)-linux-gnu \
	-fdebug-prefix-map="$PWD"=. -c xdp.c -o xdp.o
