// XDP programs that bpfkit's XDP runtime is compared with the kernel's
// BPF_PROG_TEST_RUN on (crates/vm/tests/net_xdp.rs). Each reads its parameters from the
// packet, so one object serves every case.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Every xdp_md field a test run's program may read, written over the first 16 bytes of
// the packet: data_end - data, data - data_meta, ingress_ifindex, rx_queue_index. Bytes
// 16.. are kept and byte 16 is incremented, so rewriting is visible too. XDP_TX.
SEC("xdp")
int fields(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	void *meta = (void *)(long)ctx->data_meta;
	__u32 *out = data;

	if (data + 17 > end)
		return XDP_ABORTED;
	out[0] = end - data;
	out[1] = data - meta;
	out[2] = ctx->ingress_ifindex;
	out[3] = ctx->rx_queue_index;
	((__u8 *)data)[16]++;
	return XDP_TX;
}

// Three adjustments with deltas from the packet's first 12 bytes (s32 each): the
// metadata, the head, the tail, in that order. A failing one ends the program with
// 0x100, 0x200 or 0x300 plus the errno. After a successful adjust_meta the metadata's
// first 4 bytes (when it has 4) are set to 0xa1b2c3d4. At the end the first 8 bytes of
// the packet become its length and the metadata's length, read from the context again.
SEC("xdp")
int adjust(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__s32 meta_delta, head_delta, tail_delta;
	void *meta;
	long r;

	if (data + 12 > end)
		return XDP_ABORTED;
	meta_delta = ((__s32 *)data)[0];
	head_delta = ((__s32 *)data)[1];
	tail_delta = ((__s32 *)data)[2];

	r = bpf_xdp_adjust_meta(ctx, meta_delta);
	if (r)
		return 0x100 - r;
	data = (void *)(long)ctx->data;
	meta = (void *)(long)ctx->data_meta;
	if (meta + 4 <= data)
		*(__u32 *)meta = 0xa1b2c3d4;

	r = bpf_xdp_adjust_head(ctx, head_delta);
	if (r)
		return 0x200 - r;
	r = bpf_xdp_adjust_tail(ctx, tail_delta);
	if (r)
		return 0x300 - r;

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	meta = (void *)(long)ctx->data_meta;
	if (data + 8 > end)
		return XDP_ABORTED;
	((__u32 *)data)[0] = end - data;
	((__u32 *)data)[1] = data - meta;
	return XDP_PASS;
}

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} devices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} devices_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} sockets SEC(".maps");

// Verdicts returned, counted by value.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

// A redirect chosen by the packet: byte 0 picks the helper (0 bpf_redirect, 1 the device
// map, 2 the hashed device map, 3 the CPU map, 4 the socket map, 5 bpf_redirect to
// ifindex 9 then the device map, returning XDP_REDIRECT whatever the map answers),
// bytes 4..8 are the ifindex or key, bytes 8..16 the flags. The verdict is the helper's
// answer; the helper's answer is counted in `verdicts`.
SEC("xdp")
int redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 key, verdict, ret;
	__u64 flags, one = 1, *count;

	if (data + 16 > end)
		return XDP_ABORTED;
	key = ((__u32 *)data)[1];
	flags = ((__u64 *)data)[1];
	ret = 0xffff;
	switch (((__u8 *)data)[0]) {
	case 0:
		verdict = bpf_redirect(key, flags);
		break;
	case 1:
		verdict = bpf_redirect_map(&devices, key, flags);
		break;
	case 2:
		verdict = bpf_redirect_map(&devices_hash, key, flags);
		break;
	case 3:
		verdict = bpf_redirect_map(&cpus, key, flags);
		break;
	case 4:
		verdict = bpf_redirect_map(&sockets, key, flags);
		break;
	default:
		bpf_redirect(9, 0);
		verdict = bpf_redirect_map(&devices, key, flags);
		ret = XDP_REDIRECT;
		break;
	}
	count = bpf_map_lookup_elem(&verdicts, &verdict);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&verdicts, &verdict, &one, BPF_NOEXIST);
	return ret == 0xffff ? verdict : ret;
}

// bpf_csum_diff from the packet's bytes 0..8 to its bytes 8..20 with the seed in bytes
// 20..24, and of bytes 0..6 alone, written over bytes 24..32. XDP_PASS.
SEC("xdp")
int csum(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 *out = data;

	if (data + 32 > end)
		return XDP_ABORTED;
	out[6] = bpf_csum_diff(data, 8, data + 8, 12, out[5]);
	out[7] = bpf_csum_diff(data, 6, 0, 0, 0);
	return XDP_PASS;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

// bpf_perf_event_output of the packet's bytes 8..16 with the flags in bytes 0..8 (index,
// and packet bytes to append in bits 32..51). The verdict is the errno, 100 on success.
SEC("xdp")
int events_out(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 flags, value;
	long r;

	if (data + 16 > end)
		return XDP_ABORTED;
	flags = ((__u64 *)data)[0];
	value = ((__u64 *)data)[1];
	r = bpf_perf_event_output(ctx, &events, flags, &value, sizeof(value));
	return r ? -r : 100;
}

char _license[] SEC("license") = "GPL";
