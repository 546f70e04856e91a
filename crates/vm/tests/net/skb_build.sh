#!/bin/sh
# Rebuilds skb_tc.o, skb_socket.o and skb_sk.o, the tc programs and socket filters
# crates/vm/tests/net_skb.rs runs in bpfkit and in the kernel.
set -eu
cd "$(dirname "$0")"
for f in skb_tc skb_socket skb_sk; do
	clang-19 -O2 -g -target bpf -I/usr/include/$(uname -m)-linux-gnu \
		-fdebug-prefix-map="$PWD"=. -c $f.c -o $f.o
done
