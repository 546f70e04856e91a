//! Hash maps read without locks while other threads insert and delete: a key that stays
//! in the map is always found, always with its own value, and iteration ends.
//!
//! The maps are small (64 buckets) and the churning keys are inserted and deleted over
//! and over, so that elements are constantly removed and reused for keys of other buckets
//! while readers stand on them: the case the versions and the nulls markers exist for.

use bpfkit_vm::maps::{self, cpu, Map, MapSpec, MapType, BPF_ANY};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Keys that stay in the map: 0..STABLE; keys that come and go: CHURN.
const STABLE: u32 = 16;
const CHURN: std::ops::Range<u32> = 100..140;
const CAPACITY: u32 = 64;

/// Key `i`, of `len` bytes: `i` in the first and the last four bytes, so that keys of
/// more than one word differ in every word.
fn key(i: u32, len: usize) -> Vec<u8> {
    let mut k = vec![0u8; len];
    k[..4].copy_from_slice(&i.to_ne_bytes());
    k[len - 4..].copy_from_slice(&i.to_ne_bytes());
    k
}

/// The value every element of key `i` holds: distinct per key.
fn value(i: u32) -> u64 {
    0x5eed_0000_0000 | (i as u64) << 8 | 0x77
}

/// The user-space value of key `i` (every CPU's slot for per-CPU maps).
fn user_value(map: &dyn Map, i: u32) -> Vec<u8> {
    let copies = map.spec().user_value_size() / 8;
    value(i).to_ne_bytes().repeat(copies)
}

fn race(map_type: MapType, key_len: usize) {
    let map: Arc<dyn Map> =
        maps::create(&MapSpec::new(map_type, key_len as u32, 8, CAPACITY)).unwrap();
    for i in 0..STABLE {
        map.update(&key(i, key_len), &user_value(&*map, i), BPF_ANY)
            .unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let churners: Vec<_> = (0..2u32)
            .map(|t| {
                let map = &map;
                s.spawn(move || {
                    for round in 0..300u32 {
                        // Each thread walks the churning keys in its own order.
                        for j in 0..CHURN.len() as u32 {
                            let i = CHURN.start + (j * (2 * t + 1) + round) % CHURN.len() as u32;
                            let _ = map.update(&key(i, key_len), &user_value(&**map, i), BPF_ANY);
                        }
                        for i in CHURN {
                            let _ = map.delete(&key(i, key_len));
                        }
                    }
                })
            })
            .collect();
        for _ in 0..2 {
            let (map, done) = (&map, &done);
            s.spawn(move || {
                let mut out = vec![0u8; map.spec().user_value_size()];
                let mut n = 0u32;
                while !done.load(Ordering::Relaxed) {
                    let i = n % STABLE;
                    n += 1;
                    let k = key(i, key_len);
                    map.lookup(&k, &mut out)
                        .unwrap_or_else(|e| panic!("{map_type:?}: key {i} not found: {e}"));
                    assert_eq!(out, user_value(&**map, i), "{map_type:?}: key {i}");
                    let v = map
                        .lookup_ptr(&k, cpu::current())
                        .unwrap_or_else(|| panic!("{map_type:?}: key {i} not found"));
                    assert!(v.region.contains(v.addr, 8));
                    // SAFETY: an 8-byte, 8-aligned value in live map memory, which other
                    // threads only access atomically.
                    let got =
                        unsafe { AtomicU64::from_ptr(v.addr as *mut u64) }.load(Ordering::Relaxed);
                    assert_eq!(got, value(i), "{map_type:?}: key {i} through a pointer");
                }
            });
        }
        // Iterating while elements move ends, and sees every key that stays.
        let (map, done) = (&map, &done);
        s.spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let seen: BTreeSet<Vec<u8>> = map.entries().into_iter().map(|(k, _)| k).collect();
                for i in 0..STABLE {
                    assert!(seen.contains(&key(i, key_len)), "{map_type:?}: key {i}");
                }
                let mut cur: Option<Vec<u8>> = None;
                let mut next = vec![0u8; key_len];
                let mut steps = 0;
                while map.next_key(cur.as_deref(), &mut next).is_ok() && steps < 10_000 {
                    cur = Some(next.clone());
                    steps += 1;
                }
            }
        });
        for c in churners {
            c.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    // Afterwards, only the keys that stayed, with their values.
    let entries = map.entries();
    assert_eq!(entries.len(), STABLE as usize, "{map_type:?}");
    for i in 0..STABLE {
        let mut out = vec![0u8; map.spec().user_value_size()];
        map.lookup(&key(i, key_len), &mut out).unwrap();
        assert_eq!(out, user_value(&*map, i));
    }
}

#[test]
fn hash_lookups_racing_reinsertions_find_their_own_value() {
    race(MapType::Hash, 4);
}

#[test]
fn multi_word_keys_never_match_a_torn_key() {
    race(MapType::Hash, 20);
}

#[test]
fn lru_and_percpu_hash_lookups_racing_reinsertions() {
    // The map never fills (16 + 40 keys of 64), so the LRU map evicts nothing.
    race(MapType::LruHash, 8);
    race(MapType::PercpuHash, 4);
    race(MapType::LruPercpuHash, 12);
}
