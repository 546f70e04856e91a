//! Device, CPU and socket maps: the same user-space operations on a kernel map and on
//! bpfkit's give the same results (success or errno) and the same values. Targets are
//! ones this machine has: the loopback device (ifindex 1) and CPU 0 and 1. Skipped,
//! saying why, where this process may not create maps.

use bpfkit_kernel::KernelMap;
use bpfkit_vm::maps::{self, Map, MapSpec, MapType, BPF_ANY, BPF_EXIST, BPF_NOEXIST};
use std::sync::Arc;

/// One operation: update (key, value, flags), lookup, delete or get-next-key of a key.
#[derive(Clone, Copy, Debug)]
enum Op {
    Update(u32, u64, u64),
    Lookup(u32),
    Delete(u32),
    Next(Option<u32>),
}
use Op::*;

/// Runs `ops` on a new map of `spec` in the kernel and in bpfkit; each answer must be
/// the same. Returns false when the kernel cannot create the map.
fn same(spec: MapSpec, ops: &[Op]) -> bool {
    if let Err(why) = bpfkit_kernel::available() {
        println!("skipped: the kernel does not let this process use BPF: {why}");
        return false;
    }
    let kernel = KernelMap::create(
        spec.map_type as u32,
        spec.key_size,
        spec.value_size,
        spec.max_entries,
        spec.flags,
    )
    .unwrap_or_else(|e| panic!("{:?}: {e}", spec.map_type));
    let ours: Arc<dyn Map> = maps::create(&spec).unwrap();
    let vs = spec.value_size as usize;
    for (i, op) in ops.iter().enumerate() {
        let (k, o): (Result<Vec<u8>, i32>, Result<Vec<u8>, i32>) = match *op {
            Update(key, value, flags) => {
                let (key, value) = (key.to_ne_bytes(), &value.to_ne_bytes()[..vs]);
                (
                    kernel
                        .update(Some(&key), value, flags)
                        .map(|()| vec![])
                        .map_err(|e| e.0),
                    ours.update(&key, value, flags)
                        .map(|()| vec![])
                        .map_err(|e| e.errno()),
                )
            }
            Lookup(key) => {
                let (mut a, mut b) = (vec![0u8; vs], vec![0u8; vs]);
                let key = key.to_ne_bytes();
                (
                    kernel
                        .lookup(Some(&key), &mut a)
                        .map(|()| a)
                        .map_err(|e| e.0),
                    ours.lookup(&key, &mut b).map(|()| b).map_err(|e| e.errno()),
                )
            }
            Delete(key) => {
                let key = key.to_ne_bytes();
                (
                    kernel.delete(Some(&key)).map(|()| vec![]).map_err(|e| e.0),
                    ours.delete(&key).map(|()| vec![]).map_err(|e| e.errno()),
                )
            }
            Next(key) => {
                let key = key.map(u32::to_ne_bytes);
                let (mut a, mut b) = ([0u8; 4], [0u8; 4]);
                (
                    kernel
                        .next_key(key.as_ref().map(|k| &k[..]), &mut a)
                        .map(|()| a.to_vec())
                        .map_err(|e| e.0),
                    ours.next_key(key.as_ref().map(|k| &k[..]), &mut b)
                        .map(|()| b.to_vec())
                        .map_err(|e| e.errno()),
                )
            }
        };
        assert_eq!(
            o, k,
            "{:?} op {i} {op:?}: bpfkit (left), kernel (right)",
            spec.map_type
        );
    }
    true
}

const EXTENDED_NO_PROG: u64 = 1 | (0xffff_ffffu64 << 32);

#[test]
fn device_map() {
    let ops = [
        Update(0, 1, BPF_ANY),
        Lookup(0),
        Lookup(1),
        // Every slot "exists": BPF_NOEXIST is always -EEXIST, BPF_EXIST always allowed.
        Update(1, 1, BPF_NOEXIST),
        Update(1, 1, BPF_EXIST),
        Update(1, 1, 3),
        Update(4, 1, BPF_ANY),
        // ifindex 0 stores no device.
        Update(1, 0, BPF_ANY),
        Lookup(1),
        Delete(0),
        Delete(0),
        Delete(4),
        Lookup(0),
        Next(None),
        Next(Some(2)),
        Next(Some(3)),
        Next(Some(9)),
    ];
    same(MapSpec::new(MapType::DevMap, 4, 4, 4), &ops);
    // struct bpf_devmap_val: no program (fd -1), read back with program id 0.
    same(
        MapSpec::new(MapType::DevMap, 4, 8, 4),
        &[Update(2, EXTENDED_NO_PROG, BPF_ANY), Lookup(2), Lookup(3)],
    );
}

#[test]
fn hashed_device_map() {
    let ops = [
        Update(7, 1, BPF_ANY),
        Lookup(7),
        Update(7, 1, BPF_NOEXIST),
        Update(8, 1, BPF_EXIST),
        Update(8, 0, BPF_ANY),
        Update(8, 1, 4),
        Update(1000, 1, BPF_NOEXIST),
        Next(None),
        Next(Some(5)),
        Update(9, 1, BPF_ANY),
        // Full (2 entries).
        Update(10, 1, BPF_ANY),
        Update(9, 1, BPF_EXIST),
        Delete(7),
        Delete(7),
        Lookup(7),
        Update(10, 1, BPF_ANY),
        Lookup(10),
    ];
    same(MapSpec::new(MapType::DevMapHash, 4, 4, 3), &ops);
    // Keys 1, 5, 9 share a bucket (of 4), newest first; a replaced key becomes newest.
    let ops = [
        Update(1, 1, BPF_ANY),
        Update(5, 1, BPF_ANY),
        Update(9, 1, BPF_ANY),
        Update(2, 1, BPF_ANY),
        Next(None),
        Next(Some(9)),
        Next(Some(5)),
        Next(Some(1)),
        Next(Some(2)),
        Update(5, 1, BPF_EXIST),
        Next(None),
        Next(Some(1)),
        Update(3, 1, BPF_ANY),
    ];
    same(MapSpec::new(MapType::DevMapHash, 4, 4, 4), &ops);
}

#[test]
fn cpu_map() {
    let ops = [
        Update(0, 64, BPF_ANY),
        Lookup(0),
        Update(0, 64, BPF_NOEXIST),
        Update(1, 16385, BPF_ANY),
        Update(1, 16384, BPF_EXIST),
        Lookup(1),
        Update(2, 64, BPF_ANY),
        Update(0, 64, 3),
        // Queue size 0 removes the CPU.
        Update(1, 0, BPF_ANY),
        Lookup(1),
        Delete(0),
        Lookup(0),
        Delete(2),
        Next(None),
        Next(Some(0)),
        Next(Some(1)),
    ];
    same(MapSpec::new(MapType::CpuMap, 4, 4, 2), &ops);
}

#[test]
fn socket_map() {
    // Without AF_XDP sockets only the refusals and iteration compare.
    let ops = [
        Lookup(0),
        Delete(0),
        Delete(2),
        Update(2, 3, BPF_ANY),
        Update(0, 3, 3),
        Next(None),
        Next(Some(1)),
    ];
    same(MapSpec::new(MapType::XskMap, 4, 4, 2), &ops);
}

#[test]
fn attributes_the_kernel_refuses() {
    for (t, k, v) in [
        (MapType::DevMap, 4, 6),
        (MapType::DevMap, 8, 4),
        (MapType::DevMapHash, 4, 12),
        (MapType::CpuMap, 4, 2),
        (MapType::XskMap, 4, 8),
    ] {
        let spec = MapSpec::new(t, k, v, 4);
        assert_eq!(
            maps::create(&spec).unwrap_err(),
            maps::MapError::Invalid,
            "{spec:?}"
        );
        if bpfkit_kernel::available().is_ok() {
            let e = KernelMap::create(t as u32, k, v, 4, 0).unwrap_err();
            assert_eq!(e.0, 22, "{spec:?} in the kernel");
        }
    }
}
