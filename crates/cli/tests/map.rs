//! `bpfkit map` end to end: maps created, changed and read back through their pin files,
//! the kernel's error codes for refused operations, input errors, and the output shapes.
//!
//! Expected outputs are derived by hand next to each test: keys and values are the bytes
//! of little-endian integers (the tests write them byte by byte), and plain output follows
//! bpftool's `print_entry_plain` and `fprint_hex` (tools/bpf/bpftool in the kernel
//! sources): `key: <hex>  value: <hex>` on one line when key and value are at most 16
//! bytes each and 24 together; bytes separated by one space, two after the 8th byte of a
//! line, a line break after every 16th.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty working directory for one test, removed when dropped. The process id
/// in its name keeps simultaneous runs of the tests apart.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("map")
            .join(format!("{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `bpfkit args` in `cwd` with `BPFKIT_PIN_DIR` unset.
fn bpfkit_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfkit"))
        .args(args)
        .current_dir(cwd)
        .env_remove("BPFKIT_PIN_DIR")
        .output()
        .expect("run bpfkit")
}

/// A pin directory.
struct Pins {
    dir: PathBuf,
    /// The test's directory holding `dir`, if this owns it.
    _scratch: Option<Scratch>,
}

impl Pins {
    /// A pin directory in a scratch directory of its own for the test `test`.
    fn new(test: &str) -> Pins {
        let scratch = Scratch::new(test);
        Pins {
            dir: scratch.0.join("pins"),
            _scratch: Some(scratch),
        }
    }

    /// The pin directory `dir`, owned by someone else.
    fn at(dir: PathBuf) -> Pins {
        Pins {
            dir,
            _scratch: None,
        }
    }

    /// Runs `bpfkit map --pin-dir DIR args`.
    fn map_args(&self, args: &[&str]) -> Output {
        let dir = self.dir.to_str().expect("UTF-8 path");
        let mut all = vec!["map", "--pin-dir", dir];
        all.extend_from_slice(args);
        bpfkit_in(self.dir.parent().expect("parent"), &all)
    }

    /// Runs `bpfkit map --pin-dir DIR` with the words of `command` as arguments.
    fn map(&self, command: &str) -> Output {
        self.map_args(&command.split_whitespace().collect::<Vec<_>>())
    }

    /// Runs `bpfkit map args`, asserting success, and returns stdout.
    fn ok_args(&self, args: &[&str]) -> String {
        success(&self.map_args(args))
    }

    /// Runs `bpfkit map` with the words of `command`, asserting success; returns stdout.
    fn ok(&self, command: &str) -> String {
        success(&self.map(command))
    }

    /// The file of the pin `name`.
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

fn success(out: &Output) -> String {
    assert!(
        out.status.success(),
        "bpfkit failed with {}: {}",
        out.status,
        stderr(out)
    );
    stdout(out)
}

/// Asserts exit status `code`, nothing on stdout, and one error on stderr containing
/// every one of `needles`.
fn fails_with(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(out));
    for needle in needles {
        assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
    }
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"))
}

/// Number of CPU slots of per-CPU maps: the host's available parallelism, which the
/// bpfkit process sees as this test does.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// hash: u32 keys 1 and 2 (`01 00 00 00`, `02 00 00 00`), u64 values 42 and
/// 0x0807060504030201; the key given as `0x...`, as spaced bytes and as plain digits.
#[test]
fn hash_create_update_lookup_delete_dump() {
    let pins = Pins::new("hash_round_trip");
    let create = "create counts --type hash --key-size 4 --value-size 8 --max-entries 16";
    assert_eq!(pins.ok(create), "", "create prints nothing");
    assert!(pins.file("counts").is_file(), "the map is a pin file");
    assert_eq!(pins.ok("dump counts"), "Found 0 elements\n");

    pins.ok("update counts --key 0x02000000 --value 0102030405060708");
    // One argument holding spaced bytes.
    pins.ok_args(&[
        "update",
        "counts",
        "--key",
        "01 00 00 00",
        "--value",
        "2a 00 00 00 00 00 00 00",
    ]);
    assert_eq!(
        pins.ok("lookup counts --key 01000000"),
        "key: 01 00 00 00  value: 2a 00 00 00 00 00 00 00\n"
    );
    // Several arguments after --key make one key, as bpftool's `key 01 00 00 00`.
    assert_eq!(
        pins.ok("lookup counts --key 02 00 00 00"),
        "key: 02 00 00 00  value: 01 02 03 04 05 06 07 08\n"
    );
    // Sorted by key bytes, whatever the insertion order.
    assert_eq!(
        pins.ok("dump counts"),
        "key: 01 00 00 00  value: 2a 00 00 00 00 00 00 00\n\
         key: 02 00 00 00  value: 01 02 03 04 05 06 07 08\n\
         Found 2 elements\n"
    );

    // Replacing keeps one element per key.
    pins.ok("update counts --key 01000000 --value 0x0700000000000000");
    assert_eq!(pins.ok("delete counts --key 02000000"), "");
    assert_eq!(
        pins.ok("dump counts"),
        "key: 01 00 00 00  value: 07 00 00 00 00 00 00 00\nFound 1 element\n"
    );
    fails_with(
        &pins.map("lookup counts --key 02000000"),
        1,
        &[
            "bpfkit: error: ",
            "02000000",
            "counts",
            "no such key (ENOENT)",
        ],
    );
}

/// The kernel's update and delete errors on a hash map of 2 elements: BPF_NOEXIST on an
/// existing key is EEXIST, BPF_EXIST on a missing one ENOENT, a third key E2BIG, deleting
/// a missing key ENOENT. A refused operation leaves the map as it was.
#[test]
fn hash_errors_are_the_kernels() {
    let pins = Pins::new("hash_errors");
    pins.ok("create h --type hash --key-size 4 --value-size 4 --max-entries 2");
    pins.ok("update h --key 01000000 --value 11111111 --flags noexist");
    fails_with(
        &pins.map("update h --key 01000000 --value 22222222 --flags noexist"),
        1,
        &["key exists (EEXIST)"],
    );
    fails_with(
        &pins.map("update h --key 02000000 --value 22222222 --flags exist"),
        1,
        &["no such key (ENOENT)"],
    );
    pins.ok("update h --key 01000000 --value 33333333 --flags exist");
    pins.ok("update h --key 02000000 --value 44444444");
    fails_with(
        &pins.map("update h --key 03000000 --value 55555555"),
        1,
        &["map is full (E2BIG)"],
    );
    fails_with(
        &pins.map("delete h --key 03000000"),
        1,
        &["no such key (ENOENT)"],
    );
    // Replacing an existing key of a full map is allowed.
    pins.ok("update h --key 02000000 --value 66666666");
    assert_eq!(
        pins.ok("dump h"),
        "key: 01 00 00 00  value: 33 33 33 33\n\
         key: 02 00 00 00  value: 66 66 66 66\n\
         Found 2 elements\n"
    );
}

/// array of 3 u32: every index exists from the start with a zero value (so BPF_NOEXIST is
/// EEXIST), index 3 is out of range (E2BIG on update, ENOENT on lookup) and elements
/// cannot be deleted (EINVAL), as in Linux's arraymap.c.
#[test]
fn array_elements_always_exist() {
    let pins = Pins::new("array");
    pins.ok("create a --type array --key-size 4 --value-size 4 --max-entries 3");
    pins.ok("update a --key 01000000 --value ffffffff");
    assert_eq!(
        pins.ok("dump a"),
        "key: 00 00 00 00  value: 00 00 00 00\n\
         key: 01 00 00 00  value: ff ff ff ff\n\
         key: 02 00 00 00  value: 00 00 00 00\n\
         Found 3 elements\n"
    );
    fails_with(
        &pins.map("update a --key 02000000 --value 01000000 --flags noexist"),
        1,
        &["key exists (EEXIST)"],
    );
    fails_with(
        &pins.map("update a --key 03000000 --value 01000000"),
        1,
        &["index out of range (E2BIG)"],
    );
    fails_with(
        &pins.map("lookup a --key 03000000"),
        1,
        &["no such key (ENOENT)"],
    );
    fails_with(&pins.map("delete a --key 01000000"), 1, &["EINVAL"]);
}

/// percpu_array with 4-byte values: an update writes the value for every CPU (as
/// bpftool does); dump and lookup list one `value (CPU NN):` line per CPU, JSON one
/// string per CPU.
#[test]
fn percpu_array_lists_every_cpu() {
    let pins = Pins::new("percpu_array");
    pins.ok("create pc --type percpu_array --key-size 4 --value-size 4 --max-entries 2");
    pins.ok("update pc --key 01000000 --value aabbccdd");
    let per_cpu = |value: &str| -> String {
        (0..cpus())
            .map(|cpu| format!("value (CPU {cpu:02}): {value}\n"))
            .collect()
    };
    assert_eq!(
        pins.ok("lookup pc --key 01000000"),
        format!("key:\n01 00 00 00\n{}", per_cpu("aa bb cc dd"))
    );
    assert_eq!(
        pins.ok("dump pc"),
        format!(
            "key:\n00 00 00 00\n{}key:\n01 00 00 00\n{}Found 2 elements\n",
            per_cpu("00 00 00 00"),
            per_cpu("aa bb cc dd")
        )
    );
    let values = |v: &str| Value::Array(vec![json!(v); cpus()]);
    assert_eq!(
        parse_json(&pins.ok("dump pc --json")),
        json!([
            {"key": "00000000", "value": values("00000000")},
            {"key": "01000000", "value": values("aabbccdd")},
        ])
    );
    // One CPU's value is the size to give, not the whole per-CPU layout.
    fails_with(
        &pins.map("update pc --key 01000000 --value aabbccdd00000000"),
        2,
        &["takes 4-byte values"],
    );
}

/// lru_hash of 2 elements: a third key evicts an element instead of failing with E2BIG.
/// Which of the first two goes is the eviction policy's choice; the new key stays, and
/// deleting it leaves one element.
#[test]
fn lru_hash_evicts_when_full() {
    let pins = Pins::new("lru_hash");
    pins.ok("create lru --type lru_hash --key-size 4 --value-size 4 --max-entries 2");
    for key in ["01000000", "02000000", "03000000"] {
        pins.ok(&format!("update lru --key {key} --value {key}"));
    }
    assert_eq!(
        pins.ok("lookup lru --key 03000000"),
        "key: 03 00 00 00  value: 03 00 00 00\n"
    );
    let dump = parse_json(&pins.ok("dump lru --json"));
    assert_eq!(dump.as_array().map(Vec::len), Some(2), "dump: {dump}");
    let show = parse_json(&pins.ok("show lru --json"));
    assert_eq!(show["elements"], 2);
    pins.ok("delete lru --key 03000000");
    fails_with(
        &pins.map("lookup lru --key 03000000"),
        1,
        &["no such key (ENOENT)"],
    );
    assert_eq!(parse_json(&pins.ok("show lru --json"))["elements"], 1);
}

/// queue of 2 u16 values: update pushes, lookup peeks at the oldest, pop removes it; a
/// full queue is E2BIG unless BPF_EXIST, which drops the oldest; BPF_NOEXIST is EINVAL;
/// an empty queue is ENOENT (Linux's queue_stack_maps.c).
#[test]
fn queue_push_peek_pop() {
    let pins = Pins::new("queue");
    pins.ok("create q --type queue --value-size 2 --max-entries 2");
    pins.ok("update q --value 0100");
    pins.ok("update q --value 0200");
    fails_with(
        &pins.map("update q --value 0300"),
        1,
        &["cannot update q", "map is full (E2BIG)"],
    );
    fails_with(
        &pins.map("update q --value 0300 --flags noexist"),
        1,
        &["EINVAL"],
    );
    assert_eq!(pins.ok("lookup q"), "value: 01 00\n");
    // Queues have no keys to delete: Linux answers EINVAL.
    fails_with(&pins.map("delete q"), 1, &["EINVAL"]);
    pins.ok("update q --value 0300 --flags exist");
    assert_eq!(
        pins.ok("dump q"),
        "value: 02 00\nvalue: 03 00\nFound 2 elements\n"
    );
    assert_eq!(
        parse_json(&pins.ok("pop q --json")),
        json!({"key": "", "value": "0200"})
    );
    assert_eq!(pins.ok("pop q"), "value: 03 00\n");
    fails_with(&pins.map("pop q"), 1, &["the queue is empty (ENOENT)"]);
    fails_with(
        &pins.map("lookup q --key 00"),
        2,
        &["q is a queue map, which has no keys"],
    );
}

/// stack: last in, first out; dump lists values in the order pops return them.
#[test]
fn stack_pops_newest_first() {
    let pins = Pins::new("stack");
    pins.ok("create s --type stack --value-size 1 --max-entries 4");
    for value in ["01", "02", "03"] {
        pins.ok(&format!("update s --value {value}"));
    }
    assert_eq!(
        pins.ok("dump s"),
        "value: 03\nvalue: 02\nvalue: 01\nFound 3 elements\n"
    );
    assert_eq!(pins.ok("lookup s"), "value: 03\n");
    assert_eq!(pins.ok("pop s"), "value: 03\n");
    assert_eq!(pins.ok("pop s"), "value: 02\n");
}

/// lpm_trie with IPv4 keys (`struct bpf_lpm_trie_key`: u32 prefix length, little-endian
/// here, then 4 address bytes): 10.0.0.0/8 -> 1 and 10.1.0.0/16 -> 2. A /32 lookup of
/// 10.1.2.3 matches the /16, of 10.2.0.1 the /8, of 11.0.0.1 nothing. Lookup prints the
/// key it was given, as bpftool does.
#[test]
fn lpm_trie_longest_prefix_match() {
    let pins = Pins::new("lpm_trie");
    let create = "create routes --type lpm_trie --key-size 8 --value-size 4 --max-entries 8";
    fails_with(
        &pins.map(create),
        2,
        &["cannot create routes", "lpm_trie", "EINVAL"],
    );
    pins.ok(&format!("{create} --flags 0x1"));
    pins.ok("update routes --key 08000000 0a000000 --value 01000000");
    pins.ok("update routes --key 10000000 0a010000 --value 02000000");
    assert_eq!(
        pins.ok("lookup routes --key 20000000 0a010203"),
        "key: 20 00 00 00 0a 01 02 03  value: 02 00 00 00\n"
    );
    assert_eq!(
        pins.ok("lookup routes --key 20000000 0a020001"),
        "key: 20 00 00 00 0a 02 00 01  value: 01 00 00 00\n"
    );
    fails_with(
        &pins.map("lookup routes --key 20000000 0b000001"),
        1,
        &["no such key (ENOENT)"],
    );
    pins.ok("delete routes --key 10000000 0a010000");
    assert_eq!(
        pins.ok("lookup routes --key 20000000 0a010203"),
        "key: 20 00 00 00 0a 01 02 03  value: 01 00 00 00\n"
    );
}

/// bpftool's line breaking: a 20-byte value puts `key:` and `value:` on lines of their
/// own, the value wrapped after 16 bytes; a 12-byte key with a 16-byte value (28 bytes
/// together) puts the value on a second line.
#[test]
fn long_keys_and_values_wrap_as_bpftool() {
    let pins = Pins::new("wrapping");
    pins.ok("create wide --type hash --key-size 4 --value-size 20 --max-entries 1");
    let value: String = (0u8..20).map(|b| format!("{b:02x}")).collect();
    pins.ok(&format!("update wide --key 01000000 --value {value}"));
    assert_eq!(
        pins.ok("lookup wide --key 01000000"),
        "key:\n01 00 00 00\nvalue:\n\
         00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n10 11 12 13\n"
    );
    pins.ok("create two_lines --type hash --key-size 12 --value-size 16 --max-entries 1");
    pins.ok(
        "update two_lines --key 0102030405060708090a0b0c --value ffffffffffffffff0000000000000000",
    );
    assert_eq!(
        pins.ok("dump two_lines"),
        "key: 01 02 03 04 05 06 07 08  09 0a 0b 0c\n\
         value: ff ff ff ff ff ff ff ff  00 00 00 00 00 00 00 00\n\
         Found 1 element\n"
    );
}

#[test]
fn bad_hex_and_wrong_sizes_are_input_errors() {
    let pins = Pins::new("input_errors");
    pins.ok("create h --type hash --key-size 4 --value-size 8 --max-entries 4");
    fails_with(
        &pins.map("lookup h --key zz000000"),
        2,
        &["--key is not valid hex", "zz000000"],
    );
    fails_with(
        &pins.map("lookup h --key 0x1"),
        2,
        &["--key is not valid hex", "odd number of hex digits"],
    );
    fails_with(
        &pins.map("lookup h --key 0100"),
        2,
        &["--key is 2 bytes long", "h takes 4-byte keys"],
    );
    fails_with(
        &pins.map("update h --key 01000000 --value 01"),
        2,
        &["--value is 1 byte long", "h takes 8-byte values"],
    );
    fails_with(
        &pins.map("delete h"),
        2,
        &["--key is required", "4-byte keys"],
    );
    fails_with(
        &pins.map("dump nothing"),
        2,
        &["no map is pinned as nothing"],
    );
    fails_with(
        &pins.map("create .hidden --type array --key-size 4 --value-size 4 --max-entries 1"),
        2,
        &["not a valid pin name"],
    );
    // Nothing was written by the failed commands.
    assert_eq!(pins.ok("dump h"), "Found 0 elements\n");
}

/// An unknown type is a usage error listing the valid names; descriptor-holding types
/// (prog_array and the like) are not among them.
#[test]
fn unknown_type_lists_the_valid_ones() {
    let pins = Pins::new("unknown_type");
    let out = pins.map("create m --type hashmap --max-entries 1");
    fails_with(
        &out,
        2,
        &[
            "hashmap",
            "hash",
            "array",
            "percpu_array",
            "lru_hash",
            "lpm_trie",
            "queue",
            "ringbuf",
        ],
    );
    let out = pins.map("create m --type prog_array --max-entries 1");
    fails_with(&out, 2, &["prog_array"]);
    assert!(!pins.file("m").exists());
}

/// Creating over an existing pin is EEXIST, like pinning to a used path in bpffs.
#[test]
fn create_refuses_an_existing_name() {
    let pins = Pins::new("create_twice");
    let create = "create m --type array --key-size 4 --value-size 4 --max-entries 1";
    pins.ok(create);
    pins.ok("update m --key 00000000 --value 01020304");
    fails_with(&pins.map(create), 1, &["already pinned as m", "EEXIST"]);
    assert_eq!(
        pins.ok("lookup m --key 00000000"),
        "key: 00 00 00 00  value: 01 02 03 04\n"
    );
}

/// A pin file that is not a pinned map, or whose contents no longer match their
/// checksum, is an input error naming the file, and is left as it is.
#[test]
fn corrupt_pin_files_are_named() {
    let pins = Pins::new("corrupt");
    pins.ok("create h --type hash --key-size 4 --value-size 4 --max-entries 4");
    pins.ok("update h --key 01000000 --value 01000000");
    let path = pins.file("h");
    let mut bytes = std::fs::read(&path).expect("read the pin");
    *bytes.last_mut().expect("non-empty pin") ^= 0xff;
    std::fs::write(&path, &bytes).expect("corrupt the pin");
    let named = path.display().to_string();
    fails_with(
        &pins.map("lookup h --key 01000000"),
        2,
        &[&named, "checksum mismatch"],
    );
    fails_with(
        &pins.map("update h --key 01000000 --value 02000000"),
        2,
        &[&named],
    );
    assert_eq!(std::fs::read(&path).expect("read the pin"), bytes);

    std::fs::write(pins.file("junk"), "not a map\n").expect("write junk");
    fails_with(
        &pins.map("dump junk"),
        2,
        &[
            &pins.file("junk").display().to_string(),
            "not a bpfkit pinned map",
        ],
    );
    fails_with(&pins.map("show"), 2, &["not a bpfkit pinned map"]);
}

/// show: bpftool's two lines per map plus the element count; JSON an object for one map,
/// a list for all of them (sorted by name). Leftover temporary files of an interrupted
/// write (names starting with `.`) are not maps.
#[test]
fn show_one_and_all() {
    let pins = Pins::new("show");
    pins.ok("create b_queue --type queue --value-size 8 --max-entries 16");
    pins.ok(
        "create a_hash --type lru_hash --key-size 4 --value-size 8 --max-entries 1024 --flags 0x40",
    );
    pins.ok("update a_hash --key 01000000 --value 0000000000000000");
    std::fs::write(pins.file(".a_hash.tmp-1-0"), "partial").expect("write a temporary file");
    assert_eq!(
        pins.ok("show a_hash"),
        "a_hash: lru_hash  flags 0x40\n\tkey 4B  value 8B  max_entries 1024  elements 1\n"
    );
    assert_eq!(
        pins.ok("show"),
        "a_hash: lru_hash  flags 0x40\n\tkey 4B  value 8B  max_entries 1024  elements 1\n\
         b_queue: queue  flags 0x0\n\tkey 0B  value 8B  max_entries 16  elements 0\n"
    );
    let a_hash = json!({
        "pin": "a_hash", "type": "lru_hash", "flags": 64, "key_size": 4, "value_size": 8,
        "max_entries": 1024, "elements": 1,
    });
    assert_eq!(parse_json(&pins.ok("show a_hash --json")), a_hash);
    let all = parse_json(&pins.ok("show --json"));
    assert_eq!(all[0], a_hash);
    assert_eq!(all[1]["pin"], "b_queue");
    assert_eq!(all.as_array().map(Vec::len), Some(2));
}

/// JSON shapes: an element is `{"key": hex, "value": hex}`; commands that only change a
/// map print `null`.
#[test]
fn json_shapes() {
    let pins = Pins::new("json");
    let created =
        pins.ok("create h --type hash --key-size 2 --value-size 2 --max-entries 4 --json");
    assert_eq!(parse_json(&created), Value::Null);
    let updated = pins.ok("update h --key 0100 --value abcd --json");
    assert_eq!(parse_json(&updated), Value::Null);
    pins.ok("update h --key 0001 --value 0000");
    assert_eq!(
        parse_json(&pins.ok("lookup h --key 0100 --json")),
        json!({"key": "0100", "value": "abcd"})
    );
    assert_eq!(
        parse_json(&pins.ok("dump h --json")),
        json!([{"key": "0001", "value": "0000"}, {"key": "0100", "value": "abcd"}])
    );
    let deleted = pins.ok("delete h --key 0100 --json");
    assert_eq!(parse_json(&deleted), Value::Null);
    assert_eq!(
        parse_json(&pins.ok("dump h --json")),
        json!([{"key": "0001", "value": "0000"}])
    );
}

/// pin copies a map with its contents: into a directory under the map's name, or to a
/// file path; the copy is independent; a path in use is EEXIST.
#[test]
fn pin_copies_a_map() {
    let pins = Pins::new("pin");
    pins.ok("create h --type hash --key-size 1 --value-size 1 --max-entries 4");
    pins.ok("update h --key 01 --value 0a");
    let shared = pins.dir.parent().expect("parent").join("shared");
    let into_dir = format!("{}/", shared.display());
    pins.ok(&format!("pin h {into_dir}"));
    let snapshot = shared.join("snapshot");
    pins.ok(&format!("pin h {}", snapshot.display()));
    fails_with(&pins.map(&format!("pin h {into_dir}")), 1, &["EEXIST"]);

    pins.ok("update h --key 01 --value 0b");
    let copies = Pins::at(shared);
    assert_eq!(copies.ok("lookup h --key 01"), "key: 01  value: 0a\n");
    assert_eq!(
        copies.ok("lookup snapshot --key 01"),
        "key: 01  value: 0a\n"
    );
    assert_eq!(pins.ok("lookup h --key 01"), "key: 01  value: 0b\n");
}

/// Without --pin-dir, maps live in $BPFKIT_PIN_DIR, else in ./bpffs.
#[test]
fn pin_dir_defaults() {
    let scratch = Scratch::new("pin_dir_defaults");
    let cwd = &scratch.0;
    let create = "map create m --type array --key-size 4 --value-size 1 --max-entries 1";
    let create: Vec<&str> = create.split_whitespace().collect();
    success(&bpfkit_in(cwd, &create));
    assert!(cwd.join("bpffs/m").is_file(), "pinned in ./bpffs");

    let out = Command::new(env!("CARGO_BIN_EXE_bpfkit"))
        .args(&create)
        .current_dir(cwd)
        .env("BPFKIT_PIN_DIR", "elsewhere")
        .output()
        .expect("run bpfkit");
    success(&out);
    assert!(
        cwd.join("elsewhere/m").is_file(),
        "pinned in $BPFKIT_PIN_DIR"
    );
}
