// tc programs for crates/vm/tests/net_skb.rs: each takes its parameters from cb[] of the
// context the test run starts with and leaves its results in cb[], mark, priority, the
// packet and the verdict, all of which BPF_PROG_TEST_RUN copies out.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Every field tc programs may read, into the packet from offset 14 on (packets of at
// least 14 + 4 * 20 bytes), then the fields tc programs may write.
SEC("tc")
int fields(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	void *meta = (void *)(long)skb->data_meta;
	__u32 *out = data + 14;

	if ((void *)(out + 20) > data_end)
		return TC_ACT_SHOT;
	out[0] = skb->len;
	out[1] = skb->pkt_type;
	out[2] = skb->mark;
	out[3] = skb->queue_mapping;
	out[4] = skb->protocol;
	out[5] = skb->vlan_present;
	out[6] = skb->vlan_tci;
	out[7] = skb->vlan_proto;
	out[8] = skb->priority;
	out[9] = skb->ingress_ifindex;
	out[10] = skb->ifindex;
	out[11] = skb->tc_index;
	out[12] = skb->cb[0] + skb->cb[4];
	out[13] = skb->hash;
	out[14] = skb->tc_classid;
	out[15] = data_end - data;
	out[16] = data - meta;
	out[17] = skb->napi_id;
	out[18] = skb->wire_len;
	out[19] = skb->gso_segs + (skb->gso_size << 16);
	skb->mark = skb->mark * 3 + 1;
	skb->priority = 0x12345;
	skb->tc_index = 0x10007;
	skb->tc_classid = 0x20008;
	skb->tstamp = skb->tstamp * 2 + 5;
	// Read back through volatile loads, or clang forwards the values stored.
	skb->cb[1] = *(volatile __u32 *)&skb->tc_index;
	skb->cb[2] = *(volatile __u32 *)&skb->tc_classid;
	skb->cb[3] = (__u32)skb->tstamp;
	return skb->len > 100 ? TC_ACT_SHOT : TC_ACT_OK;
}

// cb[0] selects: 0 bpf_skb_load_bytes(cb[1], 8 bytes), 1 bpf_skb_store_bytes(cb[1], 8
// bytes, flags cb[3]), 2 bpf_skb_load_bytes_relative(cb[1], 8 bytes, cb[2]),
// 3 bpf_skb_pull_data(cb[1]), 4 the same with 1 byte. cb[0] = the helper's return value,
// cb[1..2] = the bytes loaded, cb[3] = the hash after the helper (set to cb[4] before).
SEC("tc")
int bytes(struct __sk_buff *skb)
{
	__u8 buf[8] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
	__u32 op = skb->cb[0], off = skb->cb[1];
	long ret;

	bpf_set_hash(skb, skb->cb[4]);
	switch (op) {
	case 0:
		ret = bpf_skb_load_bytes(skb, off, buf, 8);
		break;
	case 1:
		ret = bpf_skb_store_bytes(skb, off, buf, 8, skb->cb[3]);
		break;
	case 2:
		ret = bpf_skb_load_bytes_relative(skb, off, buf, 8, skb->cb[2]);
		break;
	case 3:
		ret = bpf_skb_pull_data(skb, off);
		break;
	default:
		ret = bpf_skb_load_bytes(skb, off, buf, 1);
		break;
	}
	skb->cb[0] = ret;
	__builtin_memcpy(&skb->cb[1], buf, 8);
	skb->cb[3] = skb->hash;
	return TC_ACT_OK;
}

// cb[0] selects: 0 bpf_l3_csum_replace(cb[1], cb[2], cb[3], cb[4]),
// 1 bpf_l4_csum_replace(the same), 2 bpf_l4_csum_replace(cb[1], 0,
// bpf_csum_diff(&cb[2], 4, &cb[3], 4, 0), cb[4]), 3 bpf_l3_csum_replace by that difference.
// cb[0] = the return value, cb[1] = the difference.
SEC("tc")
int csum(struct __sk_buff *skb)
{
	__u32 from = skb->cb[2], to = skb->cb[3], off = skb->cb[1];
	__u64 flags = skb->cb[4];
	long ret, diff = 0;

	switch (skb->cb[0]) {
	case 0:
		ret = bpf_l3_csum_replace(skb, off, from, to, flags);
		break;
	case 1:
		ret = bpf_l4_csum_replace(skb, off, from, to, flags);
		break;
	case 2:
		diff = bpf_csum_diff(&from, 4, &to, 4, 0);
		ret = bpf_l4_csum_replace(skb, off, 0, diff, flags);
		break;
	default:
		diff = bpf_csum_diff(&from, 4, &to, 4, 0);
		ret = bpf_l3_csum_replace(skb, off, 0, diff, flags);
		break;
	}
	skb->cb[0] = ret;
	skb->cb[1] = diff;
	return TC_ACT_OK;
}

// bpf_csum_diff over sizes 0 to 12 of two stack buffers, with seeds: cb[i] = results.
SEC("tc")
int diff(struct __sk_buff *skb)
{
	__u32 a[3] = { skb->cb[0], skb->cb[1], skb->cb[2] };
	__u32 b[3] = { skb->cb[3], skb->cb[4], 0xdeadbeef };
	__u32 seed = skb->mark;

	skb->cb[0] = bpf_csum_diff(a, 12, b, 12, seed);
	skb->cb[1] = bpf_csum_diff(0, 0, b, 8, seed);
	skb->cb[2] = bpf_csum_diff(a, 8, 0, 0, seed);
	skb->cb[3] = bpf_csum_diff(a, 6, b, 2, seed);
	skb->cb[4] = bpf_csum_diff(0, 0, 0, 0, seed);
	skb->mark = bpf_csum_diff(a, 3, a, 5, 0);
	return TC_ACT_OK;
}

// cb[0] selects: 0 bpf_skb_change_head(cb[1], cb[2]), 1 bpf_skb_change_tail(cb[1], cb[2]),
// 2 bpf_skb_adjust_room(cb[1], cb[2], cb[3] | cb[4] << 32), 3 change_head(cb[1]) then
// adjust_room(cb[2], BPF_ADJ_ROOM_MAC, cb[3]), 4 adjust_room(cb[1], NET, 0) then
// change_tail(cb[2]), 5 change_tail(cb[1]) then adjust_room(cb[2], NET, 0). cb[0] = the (first) return value, cb[1] the second, cb[2] = len,
// cb[3] = protocol.
SEC("tc")
int resize(struct __sk_buff *skb)
{
	__u32 a = skb->cb[1], b = skb->cb[2];
	__u64 flags = skb->cb[3] | (__u64)skb->cb[4] << 32;
	long ret, ret2 = 0;

	switch (skb->cb[0]) {
	case 0:
		ret = bpf_skb_change_head(skb, a, b);
		break;
	case 1:
		ret = bpf_skb_change_tail(skb, a, b);
		break;
	case 2:
		ret = bpf_skb_adjust_room(skb, (__s32)a, b, flags);
		break;
	case 3:
		ret = bpf_skb_change_head(skb, a, 0);
		ret2 = bpf_skb_adjust_room(skb, (__s32)b, BPF_ADJ_ROOM_MAC, flags);
		break;
	case 4:
		ret = bpf_skb_adjust_room(skb, (__s32)a, BPF_ADJ_ROOM_NET, 0);
		ret2 = bpf_skb_change_tail(skb, b, 0);
		break;
	default:
		ret = bpf_skb_change_tail(skb, a, 0);
		ret2 = bpf_skb_adjust_room(skb, (__s32)b, BPF_ADJ_ROOM_NET, 0);
		break;
	}
	skb->cb[0] = ret;
	skb->cb[1] = ret2;
	skb->cb[2] = skb->len;
	skb->cb[3] = skb->protocol;
	return TC_ACT_OK;
}

// Up to four VLAN steps, cb[3] two bits each from the lowest: 1 push (protocol cb[1],
// TCI cb[2] + step), 2 pop. cb[0] = the return values, a byte each; cb[1] = vlan_present
// and vlan_tci; cb[2] = vlan_proto and protocol; cb[3] = len.
SEC("tc")
int vlan(struct __sk_buff *skb)
{
	__u32 steps = skb->cb[3], rets = 0;

	for (int i = 0; i < 4; i++) {
		__u32 step = (steps >> (2 * i)) & 3;
		long ret = 0;

		if (step == 1)
			ret = bpf_skb_vlan_push(skb, skb->cb[1], skb->cb[2] + i);
		else if (step == 2)
			ret = bpf_skb_vlan_pop(skb);
		rets |= ((__u32)ret & 0xff) << (8 * i);
	}
	skb->cb[0] = rets;
	skb->cb[1] = skb->vlan_present << 16 | skb->vlan_tci;
	skb->cb[2] = skb->vlan_proto << 16 | skb->protocol;
	skb->cb[3] = skb->len;
	return TC_ACT_OK;
}

// cb[0] selects: 0 returns bpf_redirect(cb[1], cb[2]); 1 bpf_clone_redirect(cb[1], cb[2])
// into cb[0] and TC_ACT_OK.
SEC("tc")
int redirect(struct __sk_buff *skb)
{
	if (skb->cb[0] == 0)
		return bpf_redirect(skb->cb[1], skb->cb[2]);
	skb->cb[0] = bpf_clone_redirect(skb, skb->cb[1], skb->cb[2]);
	return TC_ACT_OK;
}

// The hash: cb[0] = the hash before; bpf_get_hash_recalc into cb[1] and whether it is
// non-zero and what the field reads after it into cb[2]; bpf_set_hash(cb[3]), then
// bpf_get_hash_recalc and the field into cb[3] and cb[4]; bpf_set_hash_invalid, then the
// field into mark; bpf_skb_change_type(cb[4] before) into priority.
SEC("tc")
int hash(struct __sk_buff *skb)
{
	__u32 before = skb->hash, set = skb->cb[3], type = skb->cb[4];
	__u32 h = bpf_get_hash_recalc(skb);

	skb->cb[0] = before;
	skb->cb[1] = h != 0;
	skb->cb[2] = skb->hash == h;
	bpf_set_hash(skb, set);
	skb->cb[3] = bpf_get_hash_recalc(skb);
	skb->cb[4] = skb->hash;
	bpf_set_hash_invalid(skb);
	skb->mark = skb->hash;
	skb->priority = bpf_skb_change_type(skb, type) | skb->pkt_type << 16;
	return TC_ACT_OK;
}

// Narrow loads of the context: bytes and halves of fields whose kernel storage is
// smaller than 4 bytes (protocol 2, pkt_type 1) or not (len 4), into cb[].
SEC("tc")
int narrow(struct __sk_buff *skb)
{
	void *c = skb;

	skb->cb[0] = *(volatile __u8 *)(c + 16) | *(volatile __u8 *)(c + 17) << 8 |
		     *(volatile __u8 *)(c + 18) << 16 | *(volatile __u8 *)(c + 19) << 24;
	skb->cb[1] = *(volatile __u16 *)(c + 16) | *(volatile __u16 *)(c + 18) << 16;
	skb->cb[2] = *(volatile __u8 *)(c + 4) | *(volatile __u8 *)(c + 5) << 8 |
		     *(volatile __u8 *)(c + 7) << 24;
	skb->cb[3] = *(volatile __u16 *)(c + 0) | *(volatile __u16 *)(c + 2) << 16;
	skb->cb[4] = *(volatile __u8 *)(c + 1) | *(volatile __u16 *)(c + 6) << 16;
	return TC_ACT_OK;
}

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

// Legacy packet loads before and after the packet moves: cb[0] = the byte at 12 before,
// cb[1] = bpf_skb_change_head(cb[1]), then the word at cb[2] and the byte at 12.
SEC("tc")
int ldabs(struct __sk_buff *skb)
{
	__u32 head = skb->cb[1], at = skb->cb[2];

	skb->cb[0] = load_byte(skb, 12);
	skb->cb[1] = bpf_skb_change_head(skb, head, 0);
	skb->cb[2] = load_word(skb, at);
	skb->cb[3] = load_byte(skb, 12);
	return TC_ACT_OK;
}

// bpf_skb_change_proto(cb[0], cb[1]) after bpf_set_hash(5): cb[0] = the return value,
// cb[1] = protocol, cb[2] = len, cb[3] = hash.
SEC("tc")
int proto(struct __sk_buff *skb)
{
	bpf_set_hash(skb, 5);
	skb->cb[0] = bpf_skb_change_proto(skb, skb->cb[0], skb->cb[1]);
	skb->cb[1] = skb->protocol;
	skb->cb[2] = skb->len;
	skb->cb[3] = skb->hash;
	return TC_ACT_OK;
}

// Up to eight checksum-level steps, cb[0] four bits each from the lowest (0 ends):
// 1..4 bpf_csum_level(QUERY, INC, DEC, RESET), 5 bpf_skb_adjust_room(0, MAC, cb[1]),
// 6 bpf_csum_level(9). The return values' low bytes in cb[1] and cb[2].
SEC("tc")
int level(struct __sk_buff *skb)
{
	__u32 steps = skb->cb[0], flags = skb->cb[1], rets[2] = { 0, 0 };

	for (int i = 0; i < 8; i++) {
		__u32 step = (steps >> (4 * i)) & 15;
		long ret;

		if (step == 0)
			break;
		if (step <= 4)
			ret = bpf_csum_level(skb, step - 1);
		else if (step == 5)
			ret = bpf_skb_adjust_room(skb, 0, BPF_ADJ_ROOM_MAC, flags);
		else
			ret = bpf_csum_level(skb, 9);
		rets[i / 4] |= ((__u32)ret & 0xff) << (8 * (i % 4));
	}
	skb->cb[1] = rets[0];
	skb->cb[2] = rets[1];
	return TC_ACT_OK;
}

// One step of a script: the low byte of `op` selects a helper, the rest is its argument.
static __always_inline long script_step(struct __sk_buff *skb, __u32 op)
{
	__u32 arg = op >> 8;
	__u32 bytes = 0xefbeadde;
	__u64 room_flags = 0;
	long ret;

	switch ((arg >> 12) & 3) {
	case 1:
		room_flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4;
		break;
	case 2:
		room_flags = BPF_F_ADJ_ROOM_NO_CSUM_RESET;
		break;
	case 3:
		room_flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP;
		break;
	}

	switch (op & 0xff) {
	case 1:
		return bpf_skb_change_head(skb, arg & 0xff, 0);
	case 2:
		return bpf_skb_change_tail(skb, arg & 0xfff, 0);
	case 3:
		return bpf_skb_adjust_room(skb, (__s8)(arg & 0xff), (arg >> 8) & 1, room_flags);
	case 4:
		return bpf_skb_vlan_push(skb, arg & 1 ? bpf_htons(0x88a8) : bpf_htons(0x8100),
					 arg >> 4);
	case 5:
		return bpf_skb_vlan_pop(skb);
	case 6:
		return bpf_skb_store_bytes(skb, arg & 0xff, &bytes, 4, 0);
	case 7:
		return bpf_l4_csum_replace(skb, arg & 0xff, 0x1234, 0xabcd, 2 | (arg >> 8 & 0x30));
	case 8:
		return bpf_skb_change_proto(skb, arg & 1 ? bpf_htons(0x86dd) : bpf_htons(0x0800), 0);
	case 9:
		return bpf_skb_pull_data(skb, arg & 0xff);
	case 10:
		return bpf_csum_level(skb, arg & 3);
	case 11:
		return bpf_l3_csum_replace(skb, arg & 0xff, 0x1234, 0xabcd, 2);
	case 12:
		// Loads: the first byte loaded, or the error.
		ret = bpf_skb_load_bytes_relative(skb, arg & 0xff, &bytes, 4, (arg >> 8) & 1);
		return ret ? ret : bytes & 0xff;
	case 13:
		ret = bpf_skb_load_bytes(skb, arg & 0xff, &bytes, 4);
		return ret ? ret : bytes & 0xff;
	default:
		return 0;
	}
}

// Five steps from cb[0..4]; their return values' low bytes in mark and priority, then
// the skb's state in cb[]: len, protocol and vlan_present, vlan_tci and vlan_proto, the
// direct-access length, the hash.
SEC("tc")
int script(struct __sk_buff *skb)
{
	__u32 rets = 0, last;

	rets |= (script_step(skb, skb->cb[0]) & 0xff);
	rets |= (script_step(skb, skb->cb[1]) & 0xff) << 8;
	rets |= (script_step(skb, skb->cb[2]) & 0xff) << 16;
	rets |= (script_step(skb, skb->cb[3]) & 0xff) << 24;
	last = script_step(skb, skb->cb[4]) & 0xff;
	skb->mark = rets;
	skb->priority = last;
	skb->cb[0] = skb->len;
	skb->cb[1] = skb->protocol | skb->vlan_present << 16;
	skb->cb[2] = skb->vlan_tci | skb->vlan_proto << 16;
	skb->cb[3] = skb->data_end - skb->data;
	skb->cb[4] = skb->hash;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
