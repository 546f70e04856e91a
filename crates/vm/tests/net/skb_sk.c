// tc programs for crates/vm/tests/net_skb.rs reading the socket of the skb (skb->sk,
// a struct bpf_sock the test run makes from the packet's IP header). Each leaves what
// it read in cb[] and in the packet from offset 14 on (when the packet is long enough),
// which BPF_PROG_TEST_RUN copies out, and returns TC_ACT_OK when the skb has a socket,
// TC_ACT_SHOT when skb->sk is NULL.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

// Every field of struct bpf_sock readable through skb->sk, whole: cb[0] family, cb[1]
// state, cb[2] rx_queue_mapping, cb[3] bound_dev_if, cb[4] src_port | dst_port << 16;
// then into the packet (at least 14 + 4 * 12 bytes): src_ip4, src_ip6[0..3], dst_ip4,
// dst_ip6[0..3], dst_port read as 4 bytes, rx_queue_mapping.
SEC("tc")
int fields(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 *out = data + 14;

	if (!sk)
		return TC_ACT_SHOT;
	skb->cb[0] = sk->family;
	skb->cb[1] = sk->state;
	skb->cb[2] = sk->rx_queue_mapping;
	skb->cb[3] = sk->bound_dev_if;
	skb->cb[4] = sk->src_port | (__u32)sk->dst_port << 16;
	if ((void *)(out + 12) > data_end)
		return TC_ACT_OK;
	out[0] = sk->src_ip4;
	out[1] = sk->src_ip6[0];
	out[2] = sk->src_ip6[1];
	out[3] = sk->src_ip6[2];
	out[4] = sk->src_ip6[3];
	out[5] = sk->dst_ip4;
	out[6] = sk->dst_ip6[0];
	out[7] = sk->dst_ip6[1];
	out[8] = sk->dst_ip6[2];
	out[9] = sk->dst_ip6[3];
	out[10] = *(volatile __u32 *)((void *)sk + 48);
	out[11] = sk->rx_queue_mapping;
	return TC_ACT_OK;
}

// Loads narrower than the fields, through inline assembly so that clang keeps their
// sizes and the whole 64-bit register: cb[0] = byte 0 of family | its half << 8,
// cb[1] = byte 1 of src_ip4 | its upper half << 8 | byte 3 of dst_ip4 << 24,
// cb[2] = byte 0 of state | the first half of dst_port << 8 | its first byte << 24,
// cb[3] = the upper 32 bits of rx_queue_mapping read as 4 bytes, cb[4] = the upper 32
// bits of it read as 2 bytes; then into the packet (at least 14 + 4 * 4 bytes) the low
// 32 bits of those two and of the byte read, byte 15 of dst_ip6.
SEC("tc")
int narrow(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 *out = data + 14;
	__u64 a, b, c, d, e, f, g, h, i, j, k;

	if (!sk)
		return TC_ACT_SHOT;
	asm volatile("%0 = *(u8 *)(%1 + 4)" : "=r"(a) : "r"(sk));
	asm volatile("%0 = *(u16 *)(%1 + 4)" : "=r"(b) : "r"(sk));
	asm volatile("%0 = *(u8 *)(%1 + 25)" : "=r"(c) : "r"(sk));
	asm volatile("%0 = *(u16 *)(%1 + 26)" : "=r"(d) : "r"(sk));
	asm volatile("%0 = *(u8 *)(%1 + 55)" : "=r"(e) : "r"(sk));
	asm volatile("%0 = *(u8 *)(%1 + 72)" : "=r"(f) : "r"(sk));
	asm volatile("%0 = *(u16 *)(%1 + 48)" : "=r"(g) : "r"(sk));
	asm volatile("%0 = *(u8 *)(%1 + 48)" : "=r"(h) : "r"(sk));
	asm volatile("%0 = *(u32 *)(%1 + 76)" : "=r"(i) : "r"(sk));
	asm volatile("%0 = *(u16 *)(%1 + 76)" : "=r"(j) : "r"(sk));
	asm volatile("%0 = *(u8 *)(%1 + 71)" : "=r"(k) : "r"(sk));
	skb->cb[0] = a | b << 8;
	skb->cb[1] = c | d << 8 | e << 24;
	skb->cb[2] = f | g << 8 | h << 24;
	skb->cb[3] = i >> 32;
	skb->cb[4] = j >> 32;
	if ((void *)(out + 4) > data_end)
		return TC_ACT_OK;
	out[0] = i;
	out[1] = j;
	out[2] = *(volatile __u8 *)((void *)sk + 76);
	out[3] = k;
	return TC_ACT_OK;
}

// A socket filter sees the same socket: returns family << 8 | state (0 without a
// socket); cb[0] = src_ip4, cb[1] = dst_ip4, cb[2] = src_ip6[3], cb[3] = dst_ip6[3],
// cb[4] = rx_queue_mapping.
SEC("socket")
int filter(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk)
		return 0;
	skb->cb[0] = sk->src_ip4;
	skb->cb[1] = sk->dst_ip4;
	skb->cb[2] = sk->src_ip6[3];
	skb->cb[3] = sk->dst_ip6[3];
	skb->cb[4] = sk->rx_queue_mapping;
	return sk->family << 8 | sk->state;
}

char LICENSE[] SEC("license") = "GPL";
