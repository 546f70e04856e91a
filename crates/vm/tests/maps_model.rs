//! Random operation sequences on the lpm_trie and hash maps, checked against a naive
//! model written from the documented semantics: longest prefix match by scanning every
//! stored prefix, and a hash map as a plain ordered map with the update-flag rules.

use bpfkit_vm::maps::{self, MapError, MapSpec, MapType, BPF_F_NO_PREALLOC};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Whether the first `len` bits of `a` and `b` agree (bits counted from the most
/// significant bit of the first byte).
fn same_prefix(a: &[u8], b: &[u8], len: u32) -> bool {
    (0..len as usize).all(|bit| {
        let mask = 0x80u8 >> (bit % 8);
        a[bit / 8] & mask == b[bit / 8] & mask
    })
}

#[derive(Clone, Debug)]
enum Op {
    Update(u32, [u8; 2], u8, u64),
    Lookup(u32, [u8; 2]),
    Delete(u32, [u8; 2]),
}

fn op() -> impl Strategy<Value = Op> {
    // 2-byte data (16-bit prefixes), lengths up to 17 so that "too long" is covered.
    let len = 0u32..=17;
    let data = any::<[u8; 2]>().prop_map(|d| [d[0] & 0xf3, d[1] & 0x81]);
    prop_oneof![
        (len.clone(), data.clone(), 0u8..4, any::<u64>())
            .prop_map(|(l, d, f, v)| Op::Update(l, d, f, v)),
        (len.clone(), data.clone()).prop_map(|(l, d)| Op::Lookup(l, d)),
        (len, data).prop_map(|(l, d)| Op::Delete(l, d)),
    ]
}

fn key(len: u32, data: [u8; 2]) -> Vec<u8> {
    let mut k = len.to_ne_bytes().to_vec();
    k.extend_from_slice(&data);
    k
}

proptest! {
    #[test]
    fn lpm_trie_matches_a_scan_of_all_prefixes(ops in proptest::collection::vec(op(), 1..200)) {
        const MAX: usize = 6;
        let spec = MapSpec::new(MapType::LpmTrie, 6, 8, MAX as u32).with_flags(BPF_F_NO_PREALLOC);
        let map = maps::create(&spec).unwrap();
        // The model: (prefix length, data masked to it) -> value.
        let mut model: BTreeMap<(u32, Vec<u8>), u64> = BTreeMap::new();
        let canon = |len: u32, d: [u8; 2]| -> Vec<u8> {
            (0..2).map(|i| {
                let bits = (len as i64 - 8 * i as i64).clamp(0, 8) as u32;
                d[i] & !(0xffu16 >> bits) as u8
            }).collect()
        };
        for op in ops {
            match op {
                Op::Update(len, d, flags, v) => {
                    let id = (len, canon(len, d));
                    let want = if flags > 2 || len > 16 {
                        Err(MapError::Invalid)
                    } else if model.contains_key(&id) {
                        if flags == 1 { Err(MapError::Exists) } else { Ok(()) }
                    } else if flags == 2 {
                        Err(MapError::NoEntry)
                    } else if model.len() == MAX {
                        Err(MapError::NoSpace)
                    } else {
                        Ok(())
                    };
                    if want.is_ok() {
                        model.insert(id, v);
                    }
                    prop_assert_eq!(map.update(&key(len, d), &v.to_ne_bytes(), flags as u64), want);
                }
                Op::Lookup(len, d) => {
                    // The longest stored prefix no longer than the key's that matches it.
                    let want = model
                        .iter()
                        .filter(|((l, p), _)| *l <= len && len <= 16 && same_prefix(p, &d, *l))
                        .max_by_key(|((l, _), _)| *l)
                        .map(|(_, v)| *v);
                    let mut out = [0u8; 8];
                    let got = map.lookup(&key(len, d), &mut out).ok().map(|()| u64::from_ne_bytes(out));
                    prop_assert_eq!(got, want, "lookup {}/{:?}", len, d);
                }
                Op::Delete(len, d) => {
                    let want = if len > 16 {
                        Err(MapError::Invalid)
                    } else if model.remove(&(len, canon(len, d))).is_some() {
                        Ok(())
                    } else {
                        Err(MapError::NoEntry)
                    };
                    prop_assert_eq!(map.delete(&key(len, d)), want);
                }
            }
        }
        prop_assert_eq!(map.entries().len(), model.len());
    }

    #[test]
    fn hash_follows_the_update_flag_rules(
        ops in proptest::collection::vec((0u8..3, 0u32..12, 0u64..4, any::<u64>()), 1..300),
    ) {
        const MAX: usize = 8;
        let map = maps::create(&MapSpec::new(MapType::Hash, 4, 8, MAX as u32)).unwrap();
        let mut model: BTreeMap<u32, u64> = BTreeMap::new();
        for (kind, k, flags, v) in ops {
            let key = k.to_ne_bytes();
            match kind {
                0 => {
                    let exists = model.contains_key(&k);
                    let want = match flags {
                        3.. => Err(MapError::Invalid),
                        1 if exists => Err(MapError::Exists),
                        2 if !exists => Err(MapError::NoEntry),
                        _ if !exists && model.len() == MAX => Err(MapError::TooBig),
                        _ => Ok(()),
                    };
                    if want.is_ok() {
                        model.insert(k, v);
                    }
                    prop_assert_eq!(map.update(&key, &v.to_ne_bytes(), flags), want);
                }
                1 => {
                    let mut out = [0u8; 8];
                    let got = map.lookup(&key, &mut out).map(|()| u64::from_ne_bytes(out));
                    prop_assert_eq!(got, model.get(&k).copied().ok_or(MapError::NoEntry));
                }
                _ => {
                    let want = model.remove(&k).map(drop).ok_or(MapError::NoEntry);
                    prop_assert_eq!(map.delete(&key), want);
                }
            }
        }
        let mut got: Vec<(u32, u64)> = map
            .entries()
            .into_iter()
            .map(|(k, v)| (u32::from_ne_bytes(k.try_into().unwrap()), u64::from_ne_bytes(v.try_into().unwrap())))
            .collect();
        got.sort();
        prop_assert_eq!(got, model.into_iter().collect::<Vec<_>>());
    }
}
