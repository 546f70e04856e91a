// bpf_loop and bpf_for_each_map_elem. XDP programs for the kernel that never read their
// context, so bpfkit runs them with any context.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

static long add_index(__u32 i, void *ctx)
{
	*(__u64 *)ctx += i;
	return 0;
}

// Sum of 0..99 = 4950 over 100 iterations: 4950 * 1000 + 100.
SEC("xdp")
int loop_sum(struct xdp_md *ctx)
{
	__u64 sum = 0;
	long n = bpf_loop(100, add_index, &sum, 0);
	return sum * 1000 + n;
}

static long add_until_9(__u32 i, void *ctx)
{
	*(__u64 *)ctx += i;
	return i == 9;
}

// Stops after i = 9: 0 + ... + 9 = 45 over 10 iterations: 45 * 1000 + 10.
SEC("xdp")
int loop_stop(struct xdp_md *ctx)
{
	__u64 sum = 0;
	long n = bpf_loop(100, add_until_9, &sum, 0);
	return sum * 1000 + n;
}

struct nest {
	__u64 total;
	__u64 outer;
};

static long inner(__u32 j, void *ctx)
{
	struct nest *c = ctx;
	c->total += c->outer * 10 + j;
	return 0;
}

static long outer(__u32 i, void *ctx)
{
	struct nest *c = ctx;
	c->outer = i;
	bpf_loop(i, inner, c, 0);
	return 0;
}

// Sum over i < 5, j < i of 10 i + j: 10 (1*1 + 2*2 + 3*3 + 4*4) + (0 + 1 + 3 + 6) = 310.
SEC("xdp")
int loop_nested(struct xdp_md *ctx)
{
	struct nest c = {0, 0};
	bpf_loop(5, outer, &c, 0);
	return c.total;
}

// Flags are -EINVAL (22), more than 1 << 23 iterations -E2BIG (7): 22 * 100 + 7.
SEC("xdp")
int loop_errors(struct xdp_md *ctx)
{
	__u64 sum = 0;
	long einval = bpf_loop(1, add_index, &sum, 1);
	long e2big = bpf_loop((1 << 23) + 1, add_index, &sum, 0);
	return -einval * 100 - e2big + sum;
}

struct acc {
	__u64 sum;
};

static long sum_array(void *map, __u32 *key, __u64 *val, struct acc *a)
{
	a->sum += *key * 1000 + *val;
	return *key == 5;
}

// arr[i] = i * i, then the walk stops at key 5 after 6 elements: keys 0..5 give
// 15 * 1000, values 0 + 1 + 4 + 9 + 16 + 25 = 55: 15055 * 10 + 6.
SEC("xdp")
int each_array(struct xdp_md *ctx)
{
#pragma clang loop unroll(full)
	for (__u32 i = 0; i < 8; i++) {
		__u32 k = i;
		__u64 *v = bpf_map_lookup_elem(&arr, &k);
		if (!v)
			return 0;
		*v = i * i;
	}
	struct acc a = {0};
	long n = bpf_for_each_map_elem(&arr, sum_array, &a, 0);
	return a.sum * 10 + n;
}

static long sum_hash(void *map, __u32 *key, __u64 *val, struct acc *a)
{
	a->sum += *key + *val * 100;
	*val += 1;
	return 0;
}

// Keys 3, 7, 11, 20 with value 2 * key, each seen once (in any order): keys 41, values
// 82 * 100; 8241 * 10 + 4. The callback also adds one to each value in place, which the
// program reads back: 2 * 41 + 4 = 86.
SEC("xdp")
int each_hash(struct xdp_md *ctx)
{
	__u32 keys[4] = {3, 7, 11, 20};
#pragma clang loop unroll(full)
	for (int i = 0; i < 4; i++) {
		__u64 v = keys[i] * 2;
		bpf_map_update_elem(&hash, &keys[i], &v, BPF_ANY);
	}
	struct acc a = {0};
	long n = bpf_for_each_map_elem(&hash, sum_hash, &a, 0);
	__u64 after = 0;
#pragma clang loop unroll(full)
	for (int i = 0; i < 4; i++) {
		__u64 *v = bpf_map_lookup_elem(&hash, &keys[i]);
		if (v)
			after += *v;
	}
	if (after != 86)
		return 1;
	return a.sum * 10 + n;
}

// The benchmark of bpf_loop: 1000 iterations, 0 + 1 + ... + 999 = 499500.
SEC("xdp")
int loop_bench(struct xdp_md *ctx)
{
	__u64 sum = 0;
	bpf_loop(1000, add_index, &sum, 0);
	return sum;
}

char LICENSE[] SEC("license") = "GPL";
