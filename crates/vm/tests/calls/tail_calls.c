// Tail calls through a program array whose slots libbpf (or bpfkit's loader) fills from
// `.values`. Every program is XDP for the kernel; none reads its context, so bpfkit runs
// them with any context.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counter SEC(".maps");

int tc_count(struct xdp_md *ctx);
int tc_double(struct xdp_md *ctx);
int tc_target(struct xdp_md *ctx);

// Slot 2 stays empty; 4 entries, so index 4 and above are out of range.
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} jumps SEC(".maps") = {
	.values = {
		[0] = (void *)&tc_count,
		[1] = (void *)&tc_double,
		[3] = (void *)&tc_target,
	},
};

int tc_spin(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} spin SEC(".maps") = {
	.values = { [0] = (void *)&tc_spin },
};

static __always_inline __u64 *count(void)
{
	__u32 key = 0;
	return bpf_map_lookup_elem(&counter, &key);
}

// Slot 0: adds one to the counter and tail-calls itself until the limit stops it.
SEC("xdp")
int tc_count(struct xdp_md *ctx)
{
	__u64 *c = count();
	if (!c)
		return 0;
	*c += 1;
	bpf_tail_call(ctx, &jumps, 0);
	return *c;
}

// Zeroes the counter and enters tc_count: one tail call here and 32 in tc_count reach
// the limit of 33, so tc_count runs 33 times and the 33rd returns 33.
SEC("xdp")
int tc_limit(struct xdp_md *ctx)
{
	__u64 *c = count();
	if (!c)
		return 0;
	*c = 0;
	bpf_tail_call(ctx, &jumps, 0);
	return 1000;
}

// Slot 1: doubles the counter plus one, then tries the empty slot 2 and returns it.
SEC("xdp")
int tc_double(struct xdp_md *ctx)
{
	__u64 *c = count();
	if (!c)
		return 0;
	*c = *c * 2 + 1;
	bpf_tail_call(ctx, &jumps, 2);
	return *c;
}

// 5 -> tc_double: 5 * 2 + 1 = 11, whose tail call to the empty slot falls through.
SEC("xdp")
int tc_chain(struct xdp_md *ctx)
{
	__u64 *c = count();
	if (!c)
		return 0;
	*c = 5;
	bpf_tail_call(ctx, &jumps, 1);
	return 2000;
}

// The empty slot 2 and the out-of-range indexes 4 and 0xffffffff fall through:
// 1 + 2 + 4 = 7.
SEC("xdp")
int tc_fallthrough(struct xdp_md *ctx)
{
	int r = 0;
	bpf_tail_call(ctx, &jumps, 2);
	r += 1;
	bpf_tail_call(ctx, &jumps, 4);
	r += 2;
	bpf_tail_call(ctx, &jumps, 0xffffffff);
	r += 4;
	return r;
}

// Slot 3.
SEC("xdp")
int tc_target(struct xdp_md *ctx)
{
	return 42;
}

// The tail call replaces sub's frame: tc_target's 42 is what sub returns to its caller,
// which adds 100: 142. (A global function: clang would fold a static one's result, 1005,
// into the caller, not knowing that a tail call replaces it.)
__noinline int sub(struct xdp_md *ctx, int x)
{
	bpf_tail_call(ctx, &jumps, 3);
	return x + 1000;
}

SEC("xdp")
int tc_from_sub(struct xdp_md *ctx)
{
	return sub(ctx, 5) + 100;
}

// Tail-calls itself until the limit stops the 34th entry, which returns 1: the benchmark
// of tail calls (33 per run).
SEC("xdp")
int tc_spin(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &spin, 0);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
