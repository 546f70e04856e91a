#!/bin/sh
# Rebuilds the tail call and callback fixtures from their sources, as fixtures/build.sh
# does (the prefix map keeps the checkout's path out of the DWARF). Their results are
# checked against the kernel by crates/jit/tests/calls.rs.
set -eu
cd "$(dirname "$0")"
for p in tail_calls callbacks; do
	clang-19 -O2 -g -target bpf -I/usr/include/"$(uname -m)"-linux-gnu \
		-fdebug-prefix-map="$PWD"=. -c "$p.c" -o "$p.o"
done
