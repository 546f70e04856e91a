//! Pinned maps: contents survive a save and load for every map type, corrupt files give
//! an error naming the file and the problem, and killing a writer mid-write never leaves
//! a pin that cannot be loaded.

use bpfkit_vm::maps::pin::{self, PinDir, PinError};
use bpfkit_vm::maps::{self, cpu, Map, MapSpec, MapType, BPF_ANY, BPF_F_NO_PREALLOC};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bpfkit-pin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn filled(spec: MapSpec) -> std::sync::Arc<dyn Map> {
    let map = maps::create(&spec).unwrap();
    let value_len = spec.user_value_size();
    for i in 0..3u32 {
        let mut key = vec![0u8; spec.key_size as usize];
        if spec.map_type == MapType::LpmTrie {
            key[..4].copy_from_slice(&(8 * (i + 1)).to_ne_bytes());
            key[4] = 10;
            key[5] = i as u8;
        } else if !key.is_empty() {
            key[..4].copy_from_slice(&i.to_ne_bytes());
        }
        let value: Vec<u8> = (0..value_len).map(|b| (b as u32 * 7 + i) as u8).collect();
        map.update(&key, &value, BPF_ANY).unwrap();
    }
    map
}

#[test]
fn every_map_type_round_trips() {
    let dir = PinDir::open(temp_dir("roundtrip")).unwrap();
    let specs = [
        MapSpec::new(MapType::Array, 4, 12, 5),
        MapSpec::new(MapType::PercpuArray, 4, 12, 5),
        MapSpec::new(MapType::Hash, 4, 12, 5),
        MapSpec::new(MapType::PercpuHash, 4, 12, 5),
        MapSpec::new(MapType::LruHash, 4, 12, 5),
        MapSpec::new(MapType::LruPercpuHash, 4, 12, 5),
        MapSpec::new(MapType::LpmTrie, 8, 12, 5).with_flags(BPF_F_NO_PREALLOC),
        MapSpec::new(MapType::Queue, 0, 12, 5),
        MapSpec::new(MapType::Stack, 0, 12, 5),
    ];
    for mut spec in specs {
        spec.name = format!("{:?}", spec.map_type);
        let map = filled(spec.clone());
        dir.pin(&spec.name, &*map).unwrap();
        let back = dir.get(&spec.name).unwrap();
        assert_eq!(back.spec(), &spec);
        let sorted = |m: &dyn Map| {
            let mut e = m.entries();
            e.sort();
            e
        };
        assert_eq!(sorted(&*back), sorted(&*map), "{:?}", spec.map_type);
    }
    // A queue comes back in the same order (oldest first).
    let q = dir.get("Queue").unwrap();
    let mut first = [0u8; 12];
    q.pop(&mut first).unwrap();
    assert_eq!(first[0], 0, "value of the first push, byte 0 = 0 * 7 + 0");
    assert_eq!(dir.names().unwrap().len(), 9);
    assert!(dir.pin("../escape", &*q).is_err());
}

#[test]
fn corrupt_files_are_errors_naming_the_file() {
    let dir = temp_dir("corrupt");
    let path = dir.join("m");
    let map = filled(MapSpec::new(MapType::Hash, 4, 8, 4));
    pin::save(&*map, &path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let check = |bytes: &[u8], want: &str| {
        std::fs::write(&path, bytes).unwrap();
        let err = pin::load(&path).expect_err("corrupt pin must not load");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(want), "{text} should mention {want}");
    };
    check(b"", "bad magic");
    check(b"not a pin at all, just text", "bad magic");
    let mut v = good.clone();
    v[8] = 9;
    check(&v, "version 9");
    check(&good[..good.len() - 1], "body is");
    let mut v = good.clone();
    *v.last_mut().unwrap() ^= 1;
    check(&v, "checksum mismatch");
    // Every truncation and every single-byte change is an error or a valid map, never a
    // panic.
    for n in 0..good.len() {
        let _ = std::fs::write(&path, &good[..n]);
        assert!(pin::load(&path).is_err());
        let mut v = good.clone();
        v[n] = v[n].wrapping_add(0x41);
        std::fs::write(&path, &v).unwrap();
        let _ = pin::load(&path);
    }
    match pin::load(&dir.join("missing")) {
        Err(PinError::Io { path, .. }) => assert!(path.ends_with("missing")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn percpu_values_round_trip_every_slot() {
    // Values are saved with the CPU count in the file, one slot per CPU.
    let dir = temp_dir("percpu");
    let map = filled(MapSpec::new(MapType::PercpuArray, 4, 4, 3));
    pin::save(&*map, &dir.join("p")).unwrap();
    let back = pin::load(&dir.join("p")).unwrap();
    let mut out = vec![0u8; 8 * cpu::possible()];
    back.lookup(&1u32.to_ne_bytes(), &mut out).unwrap();
    let mut want = vec![0u8; 8 * cpu::possible()];
    map.lookup(&1u32.to_ne_bytes(), &mut want).unwrap();
    assert_eq!(out, want);
}

const CHILD_ENV: &str = "BPFKIT_PIN_WRITER_DIR";
const KEYS: u32 = 64;

/// The writer: pins an array whose every element holds the round number, round after
/// round, until killed. Run only as the child of `kill_during_write_never_corrupts`.
#[test]
#[ignore = "run by kill_during_write_never_corrupts as a child process"]
fn pin_writer_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let path = Path::new(&dir).join("counter");
    let map = maps::create(&MapSpec::new(MapType::Array, 4, 8, KEYS)).unwrap();
    for round in 1u64.. {
        for k in 0..KEYS {
            map.update(&k.to_ne_bytes(), &round.to_ne_bytes(), BPF_ANY)
                .unwrap();
        }
        pin::save(&*map, &path).unwrap();
    }
}

#[test]
fn kill_during_write_never_corrupts() {
    let dir = temp_dir("kill");
    let path = dir.join("counter");
    let exe = std::env::current_exe().unwrap();
    let mut last_round = 0;
    for attempt in 0..12u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "pin_writer_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it write for a varying while, then kill it wherever it is.
        std::thread::sleep(Duration::from_millis(40 + attempt * 13));
        child.kill().unwrap();
        child.wait().unwrap();
        if !path.exists() {
            continue;
        }
        // The pin always loads, and is one whole round: every element equal.
        let map = pin::load(&path).unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
        let values: Vec<u64> = map
            .entries()
            .into_iter()
            .map(|(_, v)| u64::from_ne_bytes(v.try_into().unwrap()))
            .collect();
        assert_eq!(values.len(), KEYS as usize);
        assert!(
            values.iter().all(|v| *v == values[0]),
            "torn pin: {values:?}"
        );
        last_round = values[0];
    }
    assert!(last_round > 0, "the writer never completed a pin");
}
