// Socket filters for crates/vm/tests/net_skb.rs: results in cb[] (copied out by
// BPF_PROG_TEST_RUN's context) and the return value, the bytes to keep.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

// The fields a socket filter may read; keeps cb[0] bytes.
SEC("socket")
int sk_fields(struct __sk_buff *skb)
{
	__u32 keep = skb->cb[0];

	skb->cb[0] = skb->len | skb->pkt_type << 16 | skb->vlan_present << 24;
	skb->cb[1] = skb->protocol | skb->ifindex << 16 | skb->queue_mapping << 24;
	skb->cb[2] = skb->mark ^ skb->priority ^ skb->ingress_ifindex;
	skb->cb[3] = skb->hash | skb->tc_index | skb->napi_id | skb->vlan_tci | skb->vlan_proto;
	skb->cb[4] = skb->gso_segs | skb->gso_size << 16;
	return keep;
}

// Legacy packet loads: LD_ABS at 0, 9 and 12 (IPv4: version, protocol, source address),
// LD_IND at cb[0] + 2. Offsets past the end end the program with 0.
SEC("socket")
int sk_ldabs(struct __sk_buff *skb)
{
	__u32 x = skb->cb[0];

	skb->cb[0] = load_byte(skb, 0) | load_byte(skb, 9) << 8;
	skb->cb[1] = load_word(skb, 12);
	skb->cb[2] = load_half(skb, x + 2);
	skb->cb[3] = load_byte(skb, x);
	skb->cb[4] = load_word(skb, x + 4);
	return 0xffff;
}

// bpf_skb_load_bytes(cb[0], 6 bytes) and bpf_skb_load_bytes_relative(cb[1], 6 bytes,
// cb[2]): return values in cb[0] and cb[1], the bytes in cb[2..4].
SEC("socket")
int sk_load(struct __sk_buff *skb)
{
	// a and b side by side, copied to cb[2..4] a word at a time.
	__u32 w[3] = { 0x04030201, 0x08070605, 0x0c0b0a09 };
	__u8 *a = (__u8 *)w, *b = a + 6;
	long r1 = bpf_skb_load_bytes(skb, skb->cb[0], a, 6);
	long r2 = bpf_skb_load_bytes_relative(skb, skb->cb[1], b, 6, skb->cb[2]);

	skb->cb[0] = r1;
	skb->cb[1] = r2;
	skb->cb[2] = w[0];
	skb->cb[3] = w[1];
	skb->cb[4] = w[2];
	return skb->len;
}

char _license[] SEC("license") = "GPL";
