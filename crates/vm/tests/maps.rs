//! Every map type's operations and error codes. Expected results come from the kernel's
//! documented behaviour (`man 2 bpf`, `linux/bpf.h`) and its map implementations in
//! kernel/bpf/ (arraymap.c, hashtab.c, lpm_trie.c, queue_stack_maps.c, ringbuf.c); each
//! check says which rule it follows.

use bpfkit_vm::maps::{
    self, cpu, Cpus, Map, MapError, MapSpec, MapType, BPF_ANY, BPF_EXIST, BPF_F_LOCK,
    BPF_F_NO_PREALLOC, BPF_NOEXIST,
};
use std::collections::BTreeSet;
use std::sync::Arc;

fn k(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

fn v(x: u64) -> [u8; 8] {
    x.to_ne_bytes()
}

fn get(map: &dyn Map, key: &[u8]) -> Result<u64, MapError> {
    let mut out = [0u8; 8];
    map.lookup(key, &mut out)?;
    Ok(u64::from_ne_bytes(out))
}

fn keys(map: &dyn Map) -> BTreeSet<Vec<u8>> {
    map.entries().into_iter().map(|(k, _)| k).collect()
}

#[test]
fn create_checks_attributes_like_bpf_map_create() {
    let bad = [
        // array_map_alloc_check: key_size must be 4, value_size non-zero.
        MapSpec::new(MapType::Array, 8, 8, 4),
        MapSpec::new(MapType::Array, 4, 0, 4),
        // Every type: max_entries 0 is -EINVAL.
        MapSpec::new(MapType::Array, 4, 8, 0),
        MapSpec::new(MapType::Hash, 4, 8, 0),
        // htab_map_alloc_check: key and value sizes non-zero.
        MapSpec::new(MapType::Hash, 0, 8, 4),
        MapSpec::new(MapType::Hash, 4, 0, 4),
        // queue_stack_map_alloc_check: no key.
        MapSpec::new(MapType::Queue, 4, 8, 4),
        // trie_alloc: BPF_F_NO_PREALLOC is mandatory, data of 1..=256 bytes.
        MapSpec::new(MapType::LpmTrie, 8, 8, 4),
        MapSpec::new(MapType::LpmTrie, 4, 8, 4).with_flags(BPF_F_NO_PREALLOC),
        MapSpec::new(MapType::LpmTrie, 4 + 257, 8, 4).with_flags(BPF_F_NO_PREALLOC),
        // ringbuf_map_alloc: power-of-two multiple of the page size, no key or value.
        MapSpec::new(MapType::Ringbuf, 0, 0, 4096 * 3),
        MapSpec::new(MapType::Ringbuf, 0, 0, 2048),
        MapSpec::new(MapType::Ringbuf, 4, 0, 4096),
        // ARRAY_CREATE_FLAG_MASK does not include BPF_F_NO_PREALLOC.
        MapSpec::new(MapType::Array, 4, 8, 4).with_flags(BPF_F_NO_PREALLOC),
    ];
    for spec in bad {
        assert_eq!(
            maps::create(&spec).err(),
            Some(MapError::Invalid),
            "{spec:?}"
        );
    }
    // arraymap.c: a per-CPU value above PCPU_MIN_UNIT_SIZE (32 KiB) is -E2BIG.
    let huge = MapSpec::new(MapType::PercpuArray, 4, (32 << 10) + 1, 1);
    assert_eq!(maps::create(&huge).err(), Some(MapError::TooBig));
}

#[test]
fn array_operations() {
    let map = maps::create(&MapSpec::new(MapType::Array, 4, 8, 3)).unwrap();
    // Arrays are preallocated and zero-filled: every index exists and reads 0.
    assert_eq!(get(&*map, &k(2)), Ok(0));
    // Out-of-range lookup: NULL in the kernel, -ENOENT from the syscall.
    assert_eq!(get(&*map, &k(3)), Err(MapError::NoEntry));
    map.update(&k(1), &v(11), BPF_ANY).unwrap();
    map.update(&k(1), &v(12), BPF_EXIST).unwrap();
    assert_eq!(get(&*map, &k(1)), Ok(12));
    // array_map_update_elem: every element exists, so BPF_NOEXIST is -EEXIST...
    assert_eq!(map.update(&k(1), &v(0), BPF_NOEXIST), Err(MapError::Exists));
    // ...an index past max_entries is -E2BIG...
    assert_eq!(map.update(&k(3), &v(0), BPF_ANY), Err(MapError::TooBig));
    // ...and flags above BPF_F_LOCK, or BPF_F_LOCK without a spin lock, -EINVAL.
    assert_eq!(map.update(&k(0), &v(0), 8), Err(MapError::Invalid));
    assert_eq!(map.update(&k(0), &v(0), BPF_F_LOCK), Err(MapError::Invalid));
    // Elements of an array cannot be deleted: -EINVAL; lookup-and-delete exists only
    // for hash maps, queues and stacks (map_lookup_and_delete_elem): -ENOTSUPP.
    assert_eq!(map.delete(&k(1)), Err(MapError::Invalid));
    assert_eq!(
        map.lookup_and_delete(&k(1), &mut [0u8; 8]),
        Err(MapError::NotSupported)
    );
    // array_map_get_next_key: NULL or out-of-range key -> 0; last -> -ENOENT.
    let mut next = [0u8; 4];
    map.next_key(None, &mut next).unwrap();
    assert_eq!(next, k(0));
    map.next_key(Some(&k(99)), &mut next).unwrap();
    assert_eq!(next, k(0));
    map.next_key(Some(&k(1)), &mut next).unwrap();
    assert_eq!(next, k(2));
    assert_eq!(map.next_key(Some(&k(2)), &mut next), Err(MapError::NoEntry));
    assert_eq!(keys(&*map).len(), 3);
}

/// The user-space view of a per-CPU value: one 8-byte-rounded slot per possible CPU.
fn percpu_value(values: impl Fn(usize) -> u32) -> Vec<u8> {
    let mut out = vec![0u8; 8 * cpu::possible()];
    for c in 0..cpu::possible() {
        out[c * 8..c * 8 + 4].copy_from_slice(&values(c).to_ne_bytes());
    }
    out
}

/// Per-CPU maps: user space writes and reads every CPU's slot; a program's update writes
/// its own CPU's slot. Value size 4 checks the rounding of each slot to 8 bytes
/// (`round_up(value_size, 8)` in `bpf_map_value_size`).
fn percpu_semantics(map: Arc<dyn Map>, key: &[u8]) {
    let spec = map.spec().clone();
    assert_eq!(spec.user_value_size(), 8 * cpu::possible());
    let all = percpu_value(|c| 100 + c as u32);
    map.update(key, &all, BPF_ANY).unwrap();
    let mut out = vec![0xffu8; spec.user_value_size()];
    map.lookup(key, &mut out).unwrap();
    assert_eq!(out, all);
    // A program on CPU c sees slot c.
    let me = cpu::current();
    let p = map.lookup_ptr(key, me).unwrap();
    let seen = unsafe { std::ptr::read(p.addr as *const u32) };
    assert_eq!(seen, 100 + me as u32);
    // A program's update of an existing element changes only its CPU's slot.
    map.update_cpus(key, &7u32.to_ne_bytes(), BPF_ANY, Cpus::One(me))
        .unwrap();
    map.lookup(key, &mut out).unwrap();
    assert_eq!(
        out,
        percpu_value(|c| if c == me { 7 } else { 100 + c as u32 })
    );
    // A short user buffer is refused.
    assert_eq!(map.lookup(key, &mut [0u8; 4]), Err(MapError::Invalid));
}

#[test]
fn percpu_array_keeps_one_slot_per_cpu() {
    let map = maps::create(&MapSpec::new(MapType::PercpuArray, 4, 4, 2)).unwrap();
    percpu_semantics(map, &k(1));
}

#[test]
fn percpu_hash_keeps_one_slot_per_cpu_and_zeroes_others_on_insert() {
    let map = maps::create(&MapSpec::new(MapType::PercpuHash, 4, 4, 2)).unwrap();
    percpu_semantics(map.clone(), &k(1));
    // pcpu_init_value: a new element created by a program has its CPU's slot set and
    // every other slot zeroed.
    let me = cpu::current();
    map.update_cpus(&k(2), &9u32.to_ne_bytes(), BPF_ANY, Cpus::One(me))
        .unwrap();
    let mut out = vec![0xffu8; 8 * cpu::possible()];
    map.lookup(&k(2), &mut out).unwrap();
    assert_eq!(out, percpu_value(|c| if c == me { 9 } else { 0 }));
}

fn hash_semantics(map_type: MapType) {
    let map = maps::create(&MapSpec::new(map_type, 4, 8, 2)).unwrap();
    // Missing key: -ENOENT for lookup and delete.
    assert_eq!(get(&*map, &k(1)), Err(MapError::NoEntry));
    assert_eq!(map.delete(&k(1)), Err(MapError::NoEntry));
    // BPF_EXIST on a missing key: -ENOENT, and nothing is created.
    assert_eq!(map.update(&k(1), &v(1), BPF_EXIST), Err(MapError::NoEntry));
    assert_eq!(get(&*map, &k(1)), Err(MapError::NoEntry));
    map.update(&k(1), &v(1), BPF_NOEXIST).unwrap();
    // BPF_NOEXIST on an existing key: -EEXIST, value unchanged.
    assert_eq!(map.update(&k(1), &v(2), BPF_NOEXIST), Err(MapError::Exists));
    assert_eq!(get(&*map, &k(1)), Ok(1));
    map.update(&k(1), &v(3), BPF_EXIST).unwrap();
    assert_eq!(get(&*map, &k(1)), Ok(3));
    // Bad flags: -EINVAL (BPF_NOEXIST | BPF_EXIST is above BPF_EXIST).
    assert_eq!(map.update(&k(1), &v(3), 3), Err(MapError::Invalid));
    map.update(&k(2), &v(4), BPF_ANY).unwrap();
    // Replacing an element of a full map works: no new element is needed.
    map.update(&k(2), &v(5), BPF_ANY).unwrap();
    // get_next_key visits each key once, then -ENOENT; an unknown key restarts.
    assert_eq!(keys(&*map), BTreeSet::from([k(1).to_vec(), k(2).to_vec()]));
    let mut first = [0u8; 4];
    map.next_key(Some(&k(77)), &mut first).unwrap();
    let mut second = [0u8; 4];
    map.next_key(Some(&first), &mut second).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        map.next_key(Some(&second), &mut [0u8; 4]),
        Err(MapError::NoEntry)
    );
    // Deleting frees room for a new key.
    map.delete(&k(1)).unwrap();
    map.update(&k(3), &v(6), BPF_ANY).unwrap();
    assert_eq!(get(&*map, &k(3)), Ok(6));
    // BPF_MAP_LOOKUP_AND_DELETE_ELEM on hash maps returns the value and removes it.
    let mut out = [0u8; 8];
    map.lookup_and_delete(&k(3), &mut out).unwrap();
    assert_eq!(u64::from_ne_bytes(out), 6);
    assert_eq!(
        map.lookup_and_delete(&k(3), &mut out),
        Err(MapError::NoEntry)
    );
    // A key of the wrong size is refused.
    assert_eq!(get(&*map, &[0u8; 3]), Err(MapError::Invalid));
}

#[test]
fn hash_operations() {
    hash_semantics(MapType::Hash);
    // htab: a new key in a full (preallocated) map is -E2BIG.
    let map = maps::create(&MapSpec::new(MapType::Hash, 4, 8, 2)).unwrap();
    map.update(&k(1), &v(1), BPF_ANY).unwrap();
    map.update(&k(2), &v(2), BPF_ANY).unwrap();
    assert_eq!(map.update(&k(3), &v(3), BPF_ANY), Err(MapError::TooBig));
    // A deleted element's value stays valid memory for a program still holding it.
    let held = map.lookup_ptr(&k(1), 0).unwrap();
    map.delete(&k(1)).unwrap();
    map.update(&k(3), &v(33), BPF_ANY).unwrap();
    assert!(held.region.contains(held.addr, 8));
}

#[test]
fn lru_hash_operations_and_eviction() {
    hash_semantics(MapType::LruHash);
    // An LRU map never answers -E2BIG: a new key evicts the least recently used one.
    // Keys 0..4 fill the map; a program looks up 0, 1 and 2 (setting their reference
    // bit, as bpf_lru_node_set_ref does); key 3 is then the only one not referenced.
    let map = maps::create(&MapSpec::new(MapType::LruHash, 4, 8, 4)).unwrap();
    for i in 0..4 {
        map.update(&k(i), &v(i as u64), BPF_ANY).unwrap();
    }
    for i in 0..3 {
        assert!(map.lookup_ptr(&k(i), 0).is_some());
    }
    map.update(&k(10), &v(10), BPF_ANY).unwrap();
    assert_eq!(get(&*map, &k(3)), Err(MapError::NoEntry));
    assert_eq!(get(&*map, &k(10)), Ok(10));
    assert_eq!(keys(&*map).len(), 4);
    // Many more insertions keep the map at its capacity.
    for i in 100..200 {
        map.update(&k(i), &v(i as u64), BPF_ANY).unwrap();
    }
    assert_eq!(keys(&*map).len(), 4);
    assert_eq!(get(&*map, &k(199)), Ok(199));
}

#[test]
fn lru_percpu_hash_operations() {
    hash_semantics_percpu(MapType::LruPercpuHash);
    let map = maps::create(&MapSpec::new(MapType::LruPercpuHash, 4, 4, 2)).unwrap();
    percpu_semantics(map, &k(5));
}

fn hash_semantics_percpu(map_type: MapType) {
    let map = maps::create(&MapSpec::new(map_type, 4, 8, 1)).unwrap();
    let value = vec![1u8; 8 * cpu::possible()];
    assert_eq!(map.update(&k(1), &value, BPF_EXIST), Err(MapError::NoEntry));
    map.update(&k(1), &value, BPF_NOEXIST).unwrap();
    assert_eq!(
        map.update(&k(1), &value, BPF_NOEXIST),
        Err(MapError::Exists)
    );
    map.delete(&k(1)).unwrap();
    assert_eq!(map.delete(&k(1)), Err(MapError::NoEntry));
}

#[test]
fn queue_and_stack_operations() {
    for (map_type, order) in [(MapType::Queue, [1, 2, 3]), (MapType::Stack, [3, 2, 1])] {
        let map = maps::create(&MapSpec::new(map_type, 0, 8, 3)).unwrap();
        let mut out = [0u8; 8];
        // Empty: pop and peek are -ENOENT.
        assert_eq!(map.pop(&mut out), Err(MapError::NoEntry));
        assert_eq!(map.peek(&mut out), Err(MapError::NoEntry));
        for x in 1..=3 {
            // From user space an update is a push (key NULL).
            map.update(&[], &v(x), BPF_ANY).unwrap();
        }
        // Full without BPF_EXIST: -E2BIG. BPF_NOEXIST is not a push flag: -EINVAL.
        assert_eq!(map.push(&v(4), BPF_ANY), Err(MapError::TooBig));
        assert_eq!(map.push(&v(4), BPF_NOEXIST), Err(MapError::Invalid));
        // Delete and get_next_key do not exist for these maps: -EINVAL.
        assert_eq!(map.delete(&[]), Err(MapError::Invalid));
        assert_eq!(map.next_key(None, &mut []), Err(MapError::Invalid));
        // Lookup from user space is a peek; lookup-and-delete a pop.
        map.lookup(&[], &mut out).unwrap();
        assert_eq!(u64::from_ne_bytes(out), order[0]);
        for want in order {
            map.lookup_and_delete(&[], &mut out).unwrap();
            assert_eq!(u64::from_ne_bytes(out), want, "{map_type:?}");
        }
        // BPF_EXIST on a full map drops the oldest element to make room (for a stack
        // too: queue_stack_map_push_elem advances the tail in both cases).
        for x in 1..=3 {
            map.push(&v(x), BPF_ANY).unwrap();
        }
        map.push(&v(4), BPF_EXIST).unwrap();
        let mut left = Vec::new();
        while map.pop(&mut out).is_ok() {
            left.push(u64::from_ne_bytes(out));
        }
        left.sort();
        assert_eq!(left, [2, 3, 4], "{map_type:?}");
    }
}

fn lpm_key(prefixlen: u32, data: &[u8]) -> Vec<u8> {
    let mut key = prefixlen.to_ne_bytes().to_vec();
    key.extend_from_slice(data);
    key
}

#[test]
fn lpm_trie_ipv4_longest_prefix_match() {
    let spec = MapSpec::new(MapType::LpmTrie, 8, 8, 3).with_flags(BPF_F_NO_PREALLOC);
    let map = maps::create(&spec).unwrap();
    map.update(&lpm_key(8, &[10, 0, 0, 0]), &v(8), BPF_ANY)
        .unwrap();
    map.update(&lpm_key(16, &[10, 1, 0, 0]), &v(16), BPF_ANY)
        .unwrap();
    map.update(&lpm_key(0, &[0, 0, 0, 0]), &v(0), BPF_ANY)
        .unwrap();
    // 10.1.2.3/32 matches /0, 10/8 and 10.1/16: the longest wins.
    assert_eq!(get(&*map, &lpm_key(32, &[10, 1, 2, 3])), Ok(16));
    // 10.2.0.1 is outside 10.1/16.
    assert_eq!(get(&*map, &lpm_key(32, &[10, 2, 0, 1])), Ok(8));
    // The lookup key's own prefix length caps the match (longest_prefix_match uses
    // min(node->prefixlen, key->prefixlen)): 10.1.2.3/12 cannot match the /16.
    assert_eq!(get(&*map, &lpm_key(12, &[10, 1, 2, 3])), Ok(8));
    assert_eq!(get(&*map, &lpm_key(32, &[192, 168, 0, 1])), Ok(0));
    // trie_update_elem: prefix longer than the data -EINVAL; flags above BPF_EXIST
    // -EINVAL; BPF_NOEXIST on an existing prefix -EEXIST; BPF_EXIST on a missing one
    // -ENOENT; a new prefix in a full trie -ENOSPC.
    assert_eq!(
        map.update(&lpm_key(33, &[0; 4]), &v(0), BPF_ANY),
        Err(MapError::Invalid)
    );
    assert_eq!(
        map.update(&lpm_key(8, &[10, 0, 0, 0]), &v(0), 4),
        Err(MapError::Invalid)
    );
    assert_eq!(
        map.update(&lpm_key(8, &[10, 9, 9, 9]), &v(0), BPF_NOEXIST),
        Err(MapError::Exists)
    );
    assert_eq!(
        map.update(&lpm_key(24, &[10, 1, 2, 0]), &v(0), BPF_EXIST),
        Err(MapError::NoEntry)
    );
    assert_eq!(
        map.update(&lpm_key(24, &[10, 1, 2, 0]), &v(0), BPF_ANY),
        Err(MapError::NoSpace)
    );
    // Delete needs the exact prefix: 10.1/24 is not in the trie even though 10.1/16 is.
    assert_eq!(
        map.delete(&lpm_key(24, &[10, 1, 0, 0])),
        Err(MapError::NoEntry)
    );
    map.delete(&lpm_key(16, &[10, 1, 0, 0])).unwrap();
    assert_eq!(get(&*map, &lpm_key(32, &[10, 1, 2, 3])), Ok(8));
    assert_eq!(keys(&*map).len(), 2);
}

#[test]
fn lpm_trie_ipv6() {
    let spec = MapSpec::new(MapType::LpmTrie, 4 + 16, 8, 8).with_flags(BPF_F_NO_PREALLOC);
    let map = maps::create(&spec).unwrap();
    let net = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
    map.update(&lpm_key(32, &net("2001:db8::")), &v(32), BPF_ANY)
        .unwrap();
    map.update(&lpm_key(127, &net("2001:db8::2")), &v(127), BPF_ANY)
        .unwrap();
    // ::2 and ::3 agree on their first 127 bits.
    assert_eq!(get(&*map, &lpm_key(128, &net("2001:db8::3"))), Ok(127));
    assert_eq!(get(&*map, &lpm_key(128, &net("2001:db8::4"))), Ok(32));
    assert_eq!(
        get(&*map, &lpm_key(128, &net("2001:db9::"))),
        Err(MapError::NoEntry)
    );
}

#[test]
fn ringbuf_records_in_order_with_linux_limits() {
    let map = maps::create(&MapSpec::new(MapType::Ringbuf, 0, 0, 4096)).unwrap();
    let ring = map.as_ringbuf().unwrap();
    // ringbuf maps have no elements: -ENOTSUPP.
    assert_eq!(map.lookup(&[], &mut []), Err(MapError::NotSupported));
    // bpf_ringbuf_query(BPF_RB_RING_SIZE) is the data size.
    assert_eq!(ring.query(1), 4096);
    assert_eq!(ring.output(b"hello", 0), 0);
    let held = ring.reserve(3).unwrap();
    let discarded = ring.reserve(8).unwrap();
    unsafe { std::ptr::copy_nonoverlapping(b"abc".as_ptr(), held as *mut u8, 3) };
    // Records are padded: 8-byte header + 5 bytes -> 16; + 3 -> 16; + 8 -> 16.
    assert_eq!(ring.query(0), 48);
    // The first record is consumable; the reserved one stops the consumer.
    let mut got = Vec::new();
    assert_eq!(ring.consume(|r| got.push(r.to_vec())), 1);
    ring.commit(discarded, true, 0).unwrap();
    ring.commit(held, false, 0).unwrap();
    // Committing twice is refused.
    assert!(ring.commit(held, false, 0).is_err());
    assert_eq!(ring.consume(|r| got.push(r.to_vec())), 1);
    assert_eq!(got, [b"hello".to_vec(), b"abc".to_vec()]);
    // __bpf_ringbuf_reserve: the producer may run at most size - 1 bytes ahead of the
    // consumer, so a 4088-byte record (4096 with its header) never fits, 4080 does once.
    assert_eq!(ring.reserve(4088), None);
    assert_eq!(ring.output(&[7u8; 4080], 0), 0);
    assert_eq!(ring.output(&[1], 0), -11, "-EAGAIN when full");
    assert_eq!(ring.output(&[1], 4), -22, "-EINVAL for unknown flags");
    let mut sizes = Vec::new();
    ring.consume(|r| sizes.push(r.len()));
    assert_eq!(sizes, [4080]);
    // Records now cross the end of the ring and read back whole.
    for i in 0..10u8 {
        assert_eq!(ring.output(&[i; 1000], 0), 0);
        let mut seen = Vec::new();
        ring.consume(|r| seen.push(r.to_vec()));
        assert_eq!(seen, [vec![i; 1000]]);
    }
}

#[test]
fn ringbuf_poll_wakes_on_submit() {
    let map = maps::create(&MapSpec::new(MapType::Ringbuf, 0, 0, 4096)).unwrap();
    let producer = map.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        producer.as_ringbuf().unwrap().output(b"wake", 0)
    });
    let mut got = Vec::new();
    let ring = map.as_ringbuf().unwrap();
    while got.is_empty() {
        ring.poll(std::time::Duration::from_secs(10), |r| got.push(r.to_vec()));
    }
    assert_eq!(t.join().unwrap(), 0);
    assert_eq!(got, [b"wake".to_vec()]);
}

#[test]
fn errno_values_are_linux_ones() {
    // asm-generic/errno-base.h and linux/errno.h.
    assert_eq!(MapError::NoEntry.errno(), 2);
    assert_eq!(MapError::TooBig.errno(), 7);
    assert_eq!(MapError::Exists.errno(), 17);
    assert_eq!(MapError::Invalid.errno(), 22);
    assert_eq!(MapError::NoSpace.errno(), 28);
    assert_eq!(MapError::NotSupported.errno(), 524);
    assert_eq!(MapError::NoEntry.to_r0(), -2i64 as u64);
}

#[test]
fn perf_event_array_outputs_per_index() {
    // fd_array_map_alloc_check: u32 keys and values.
    let bad = MapSpec::new(MapType::PerfEventArray, 4, 8, 2);
    assert_eq!(maps::create(&bad).err(), Some(MapError::Invalid));
    let map = maps::create(&MapSpec::new(MapType::PerfEventArray, 4, 4, 2)).unwrap();
    let perf = map.as_perf_event_array().unwrap();
    // No event at index 0 yet: -ENOENT. Index 5 of 2: -E2BIG. Flags beyond the index
    // mask (bit 32 up): -EINVAL.
    assert_eq!(perf.output(0, b"x"), Err(MapError::NoEntry));
    assert_eq!(perf.output(5, b"x"), Err(MapError::TooBig));
    assert_eq!(perf.output(1 << 32, b"x"), Err(MapError::Invalid));
    // Only BPF_ANY stores an fd; a stored fd cannot be read back (-ENOTSUPP).
    assert_eq!(
        map.update(&k(0), &k(3), BPF_NOEXIST),
        Err(MapError::Invalid)
    );
    map.update(&k(0), &k(3), BPF_ANY).unwrap();
    assert_eq!(map.lookup(&k(0), &mut [0; 4]), Err(MapError::NotSupported));
    perf.output(0, b"hello").unwrap();
    // Raw samples are padded so that the u32 size and the data fill 8-byte units:
    // 4 + 5 = 9 -> 16, so 12 bytes of data.
    let mut got = Vec::new();
    perf.consume(|i, s| got.push((i, format!("{s:?}"))));
    assert_eq!(
        got,
        [(
            0,
            format!("{:?}", maps::Sample::Data(b"hello\0\0\0\0\0\0\0"))
        )]
    );
    // A full buffer drops samples and reports how many before the next ones.
    let big = vec![0u8; 4092];
    let fits = maps::PerfEventArray::BUFFER_BYTES / 4092;
    for _ in 0..fits {
        perf.output(0, &big).unwrap();
    }
    assert_eq!(perf.output(0, &big), Err(MapError::NoSpace));
    let mut lost = 0;
    let n = perf.consume(|_, s| {
        if let maps::Sample::Lost(l) = s {
            lost += l
        }
    });
    assert_eq!((n, lost), (fits, 1));
    map.delete(&k(0)).unwrap();
    assert_eq!(map.delete(&k(0)), Err(MapError::NoEntry));
}

#[test]
fn fd_arrays_hold_descriptors() {
    for map_type in [MapType::ArrayOfMaps, MapType::ProgArray] {
        // fd_array_map_alloc_check: u32 values (descriptors).
        let bad = MapSpec::new(map_type, 4, 8, 2);
        assert_eq!(maps::create(&bad).err(), Some(MapError::Invalid));
        let map = maps::create(&MapSpec::new(map_type, 4, 4, 2)).unwrap();
        let mut out = [0u8; 4];
        // Slots start empty: -ENOENT, unlike a plain array's zeroed values.
        assert_eq!(map.lookup(&k(0), &mut out), Err(MapError::NoEntry));
        // A program array holds programs: a loaded program's descriptor.
        let program = bpfkit_vm::Interpreter::new(&[bpfkit_isa::Insn::Exit], &Default::default())
            .unwrap()
            .program_fd();
        let fd = if map_type == MapType::ProgArray {
            program.fd()
        } else {
            7
        };
        // bpf_fd_array_map_update_elem: only BPF_ANY; index past the end -E2BIG.
        assert_eq!(
            map.update(&k(0), &k(fd), BPF_NOEXIST),
            Err(MapError::Invalid)
        );
        assert_eq!(map.update(&k(2), &k(fd), BPF_ANY), Err(MapError::TooBig));
        map.update(&k(0), &k(fd), BPF_ANY).unwrap();
        map.lookup(&k(0), &mut out).unwrap();
        assert_eq!(out, k(fd));
        // fd_array_map_delete_elem: -E2BIG out of range, -ENOENT when already empty.
        assert_eq!(map.delete(&k(2)), Err(MapError::TooBig));
        map.delete(&k(0)).unwrap();
        assert_eq!(map.delete(&k(0)), Err(MapError::NoEntry));
    }
    // A hash of maps has the hash map's flags and errors.
    let map = maps::create(&MapSpec::new(MapType::HashOfMaps, 4, 4, 1)).unwrap();
    map.update(&k(1), &k(7), BPF_NOEXIST).unwrap();
    assert_eq!(map.update(&k(1), &k(8), BPF_NOEXIST), Err(MapError::Exists));
    assert_eq!(map.update(&k(2), &k(8), BPF_ANY), Err(MapError::TooBig));
}
