//! The `bpfkit` binary end to end: asm, disasm, run and verify on the fixtures and on small
//! snippets, the JSON shapes, and the exit status of each error class.
//!
//! Expected values come from outside bpfkit: fixtures/expected.txt (reference.py, checked
//! against the kernel), the llvm-objdump-19 listings checked in next to the fixtures, and
//! hand derivations written next to each snippet.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Runs `bpfkit args` in `dir`, with `stdin` as standard input.
fn bpfkit_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bpfkit"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bpfkit");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait for bpfkit")
}

/// Runs `bpfkit args` in the fixtures directory.
fn bpfkit(args: &[&str]) -> Output {
    bpfkit_in(&fixtures(), args, b"")
}

/// Runs `bpfkit args` in the fixtures directory with `stdin`.
fn bpfkit_stdin(args: &[&str], stdin: &str) -> Output {
    bpfkit_in(&fixtures(), args, stdin.as_bytes())
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// Asserts success and returns stdout.
fn success(out: &Output) -> String {
    assert!(
        out.status.success(),
        "bpfkit failed with {}: {}",
        out.status,
        stderr(out)
    );
    stdout(out)
}

/// Asserts exit status `code` with an error on stderr mentioning `needle`.
fn fails_with(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.starts_with("bpfkit: error: "), "stderr: {err}");
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(out));
}

/// A scratch file under Cargo's temporary directory for integration tests.
fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, contents).expect("write scratch file");
    path
}

fn parse_r0(text: &str) -> u64 {
    let hex = text.trim().strip_prefix("0x").expect("r0 printed as 0x...");
    u64::from_str_radix(hex, 16).expect("r0 is hex")
}

// ---- run ----

#[test]
fn run_returns_the_reference_value_for_every_fixture_and_input_on_both_engines() {
    let runs = bpfkit_fixtures::expected();
    assert!(
        runs.len() >= 30,
        "only {} lines in expected.txt",
        runs.len()
    );
    for engine in ["interp", "jit"] {
        for run in &runs {
            let (name, input) = (&run.name, &run.input);
            let program = format!("{name}_mem");
            let object = format!("{name}.o");
            let args = ["run", &object, "--program", &program, "--mem", input];
            let out = bpfkit(&[&args[..], &["--engine", engine]].concat());
            assert_eq!(
                parse_r0(&success(&out)),
                run.value,
                "{name} on {input} ({engine})"
            );
        }
    }
}

#[test]
fn run_selects_a_program_by_section_and_defaults_to_the_first() {
    // hash on ipv4_tcp.bin, from expected.txt; the memory program comes first in hash.o.
    let want = "0xf2d0036c\n";
    let by_section = bpfkit(&[
        "run",
        "hash.o",
        "--section",
        "memory",
        "--mem",
        "inputs/ipv4_tcp.bin",
    ]);
    assert_eq!(success(&by_section), want);
    let first = bpfkit(&["run", "hash.o", "--mem", "inputs/ipv4_tcp.bin"]);
    assert_eq!(success(&first), want);
    let both = bpfkit(&[
        "run",
        "hash.o",
        "--section",
        "memory",
        "--program",
        "hash_mem",
        "--mem",
        "inputs/ipv4_tcp.bin",
    ]);
    assert_eq!(success(&both), want);
}

#[test]
fn run_json_is_one_line_with_r0_instructions_and_mean_time() {
    let out = bpfkit(&[
        "run",
        "hash.o",
        "--program",
        "hash_mem",
        "--mem",
        "inputs/ipv4_tcp.bin",
        "--repeat",
        "5",
        "--json",
    ]);
    let text = success(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let object = json.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["instructions", "mean_ns", "r0"]);
    assert_eq!(json["r0"], "0xf2d0036c");
    // hash.c loops over all 59 bytes of ipv4_tcp.bin: far more than 59 instructions.
    assert!(json["instructions"].as_u64().expect("integer") > 59);
    assert!(json["mean_ns"].as_f64().expect("number") >= 0.0);
}

#[test]
fn run_repeats_on_a_fresh_copy_of_the_memory() {
    // r0 = mem[0]; mem[0] += 1 (when there is a byte): every run sees the original 0x07.
    let path = scratch(
        "increment.s",
        b"r0 = 0x0\nif r2 == 0x0 goto out\nr0 = *(u8 *)(r1 + 0x0)\nr2 = r0\nr2 += 0x1\n\
          *(u8 *)(r1 + 0x0) = r2\nout:\nexit\n",
    );
    let out = bpfkit(&[
        "run",
        path.to_str().unwrap(),
        "--mem-hex",
        "07",
        "--repeat",
        "3",
    ]);
    assert_eq!(success(&out), "0x7\n");
}

#[test]
fn run_takes_assembly_hex_and_raw_bytecode() {
    // r0 = *(u8 *)(r1 + 1) + r2 with memory 0a 14: 0x14 + length 2 = 0x16. The snippets
    // do not check the memory's length, so they run unverified.
    let asm = "r0 = *(u8 *)(r1 + 0x1)\nr0 += r2\nexit\n";
    let out = bpfkit_stdin(&["run", "-", "--no-verify", "--mem-hex", "0a14"], asm);
    assert_eq!(success(&out), "0x16\n");

    // The same program encoded by hand: ldxb r0, [r1+1] (0x71, dst 0, src 1, off 1);
    // add64 r0, r2 (0x0f, dst 0, src 2); exit (0x95).
    let hex = "71 10 01 00 00 00 00 00\n0f 20 00 00 00 00 00 00\n95 00 00 00 00 00 00 00\n";
    let out = bpfkit_stdin(&["run", "-", "--no-verify", "--mem-hex", "0a14"], hex);
    assert_eq!(success(&out), "0x16\n");
    let args = [
        "run",
        "-",
        "--no-verify",
        "--format",
        "hex",
        "--mem-hex",
        "0a 14",
    ];
    let out = bpfkit_stdin(&args, hex);
    assert_eq!(success(&out), "0x16\n");

    let raw: Vec<u8> = hex
        .split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    let path = scratch("snippet.bin", &raw);
    let args = [
        "run",
        path.to_str().unwrap(),
        "--no-verify",
        "--mem-hex",
        "0a14",
    ];
    assert_eq!(success(&bpfkit(&args)), "0x16\n");
}

#[test]
fn run_verifies_first_and_no_verify_skips_it() {
    // Reads mem[2] without checking the length: the verifier cannot prove the byte
    // exists, so run refuses the program with the verifier's reason; unverified, it runs
    // (and the interpreter's run-time check lets it read the third byte of three).
    let unsafe_read = "r0 = *(u8 *)(r1 + 0x2)\nexit\n";
    fails_with(
        &bpfkit_stdin(&["run", "-", "--mem-hex", "0a141e"], unsafe_read),
        1,
        "is rejected as memory",
    );
    let out = bpfkit_stdin(
        &["run", "-", "--no-verify", "--mem-hex", "0a141e"],
        unsafe_read,
    );
    assert_eq!(success(&out), "0x1e\n");
    // The verified fixture runs the same either way.
    for extra in [&[][..], &["--no-verify"][..]] {
        let args = ["run", "hash.o", "--mem", "inputs/ipv4_tcp.bin"];
        let out = bpfkit(&[&args[..], extra].concat());
        assert_eq!(success(&out), "0xf2d0036c\n");
    }
    // --type picks the type to verify for: the memory program read as a socket filter
    // reads r2, which a socket filter does not set.
    let args = ["run", "hash.o", "--program", "hash_mem", "--type", "socket"];
    fails_with(&bpfkit(&args), 1, "is rejected as socket_filter");
    let help = success(&bpfkit(&["run", "--help"]));
    assert!(help.contains("--no-verify"), "{help}");
    assert!(help.contains("first verifies the program"), "{help}");
}

// ---- asm ----

#[test]
fn asm_encodes_text_to_raw_hex_and_json() {
    // r0 = 0x2a: mov64 imm (0xb7), dst 0, imm 42; exit: 0x95.
    let want = [
        0xb7, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x95, 0, 0, 0, 0, 0, 0, 0,
    ];
    let text = "r0 = 0x2a\nexit\n";
    let out = bpfkit_stdin(&["asm", "--hex"], text);
    assert_eq!(
        success(&out),
        "b7 00 00 00 2a 00 00 00\n95 00 00 00 00 00 00 00\n"
    );

    let src = scratch("answer.s", text.as_bytes());
    let dst = Path::new(env!("CARGO_TARGET_TMPDIR")).join("answer.bin");
    let out = bpfkit(&["asm", src.to_str().unwrap(), "-o", dst.to_str().unwrap()]);
    assert_eq!(success(&out), "");
    assert_eq!(std::fs::read(&dst).unwrap(), want);

    let out = bpfkit_stdin(&["asm", "-", "--json"], text);
    let json: serde_json::Value = serde_json::from_str(&success(&out)).expect("valid JSON");
    assert_eq!(json["instructions"], 2);
    assert_eq!(json["bytes"], "b70000002a0000009500000000000000");
}

#[test]
fn asm_then_disasm_gives_back_the_text() {
    let text = "r0 = 0x2a\nexit\n";
    let dst = Path::new(env!("CARGO_TARGET_TMPDIR")).join("roundtrip.bin");
    success(&bpfkit_stdin(&["asm", "-o", dst.to_str().unwrap()], text));
    let listing = success(&bpfkit(&[
        "disasm",
        dst.to_str().unwrap(),
        "--format",
        "raw",
    ]));
    assert_eq!(
        listing,
        "\n0000000000000000 <prog>:\n       0:\tr0 = 0x2a\n       1:\texit\n"
    );
}

// ---- disasm ----

#[test]
fn disasm_of_every_fixture_matches_llvm_objdump() {
    for name in ["hash", "parse", "checksum", "sort", "loop", "calls"] {
        let object = format!("{name}.o");
        for (args, ext) in [(&[][..], "objdump"), (&["--raw"][..], "objdump-raw")] {
            let want = std::fs::read_to_string(fixtures().join(format!("{name}.{ext}"))).unwrap();
            let mut all = vec!["disasm", object.as_str()];
            all.extend_from_slice(args);
            assert_eq!(success(&bpfkit(&all)), want, "{name}.{ext}");
        }
    }
}

/// The block of an llvm-objdump listing from `<function>:` to the next blank line.
fn function_block(listing: &str, function: &str) -> String {
    let header = format!(" <{function}>:");
    let mut lines = listing.lines().skip_while(|l| !l.ends_with(&header));
    let block: Vec<&str> = lines.by_ref().take_while(|l| !l.is_empty()).collect();
    block.join("\n") + "\n"
}

#[test]
fn disasm_narrows_to_a_section_or_a_function() {
    let listing = std::fs::read_to_string(fixtures().join("calls.objdump")).unwrap();
    let out = success(&bpfkit(&["disasm", "calls.o", "--section", "xdp"]));
    assert!(out.starts_with("\ncalls.o:\tfile format elf64-bpf\n\nDisassembly of section xdp:\n"));
    assert!(
        out.ends_with(&function_block(&listing, "calls_xdp")),
        "{out}"
    );
    assert_eq!(out.matches("Disassembly of section").count(), 1);

    // A subprogram of .text, as `llvm-objdump --disassemble-symbols=mix` lists it.
    let out = success(&bpfkit(&["disasm", "calls.o", "--program", "mix"]));
    assert!(out.contains("Disassembly of section .text:\n"));
    assert!(out.ends_with(&function_block(&listing, "mix")), "{out}");
    assert!(!out.contains("<finish>:"));
}

#[test]
fn disasm_json_lists_sections_and_lines() {
    let out = success(&bpfkit(&["disasm", "hash.o", "--json"]));
    assert_eq!(out.lines().count(), 1);
    let json: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(json["file"], "hash.o");
    let names: Vec<&str> = json["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["memory", "xdp"]);
    // From hash.objdump: the first instruction of hash_mem.
    assert_eq!(json["sections"][0]["lines"][2], "       0:\tr3 = r1");
}

// ---- errors ----

#[test]
fn input_errors_exit_with_status_2() {
    fails_with(&bpfkit(&["run", "no-such-file.o"]), 2, "no-such-file.o");
    fails_with(&bpfkit(&["disasm", "no-such-file.o"]), 2, "no-such-file.o");
    fails_with(
        &bpfkit(&["run", "hash.o", "--program", "nope"]),
        2,
        "no program named `nope`",
    );
    fails_with(&bpfkit(&["run", "hash.o", "--section", "tc"]), 2, "tc");
    fails_with(
        &bpfkit(&["disasm", "hash.o", "--section", "tc"]),
        2,
        "no executable section named `tc`",
    );
    fails_with(
        &bpfkit(&["run", "hash.o", "--mem-hex", "0g"]),
        2,
        "--mem-hex is not valid hex",
    );
    fails_with(
        &bpfkit(&["run", "inputs/random64.bin", "--format", "elf"]),
        2,
        "inputs/random64.bin",
    );
    // Opcode 0xff is no instruction.
    fails_with(
        &bpfkit_stdin(&["run", "-", "--format", "hex"], "ff00000000000000"),
        2,
        "instruction 0",
    );
    fails_with(
        &bpfkit_stdin(&["run", "-", "--program", "x"], "exit\n"),
        2,
        "ELF objects only",
    );
    fails_with(&bpfkit_stdin(&["asm"], "r0 = = 1\n"), 2, "cannot assemble");
}

#[test]
fn usage_errors_exit_with_status_2() {
    let out = bpfkit(&["run", "hash.o", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let out = bpfkit(&["run", "hash.o", "--repeat", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = bpfkit(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_time_failures_exit_with_status_1() {
    // Reads a byte past the 2-byte memory (unverified: the verifier would refuse it).
    fails_with(
        &bpfkit_stdin(
            &["run", "-", "--no-verify", "--mem-hex", "0a14"],
            "r0 = *(u8 *)(r1 + 0x2)\nexit\n",
        ),
        1,
        "instruction 0",
    );
    // `goto -1` jumps to itself forever (unverified); the budget stops it.
    fails_with(
        &bpfkit_stdin(
            &["run", "-", "--no-verify", "--budget", "1000"],
            "goto -0x1\nexit\n",
        ),
        1,
        "budget",
    );
    // Linux has no helper 999, so the program cannot be prepared.
    fails_with(
        &bpfkit_stdin(&["run", "-"], "call 0x3e7\nexit\n"),
        1,
        "helper",
    );
    // The XDP twin reads ctx->data (r1 + 0) as if r1 were an xdp_md: out of bounds here.
    fails_with(
        &bpfkit(&[
            "run",
            "hash.o",
            "--program",
            "hash_xdp",
            "--mem",
            "inputs/ipv4_tcp.bin",
        ]),
        1,
        "section xdp",
    );
}

#[test]
fn run_takes_objects_with_maps_and_global_data() {
    // fixtures/loader/expected.txt, derived by hand and checked against the kernel:
    // global_data_mem gives total * scale + counter = 36 * 3 + 6 on input.bin.
    let out = bpfkit(&[
        "run",
        "loader/global_data.o",
        "--program",
        "global_data_mem",
        "--mem",
        "loader/input.bin",
    ]);
    assert_eq!(success(&out), "0x72\n");
    // Maps keep their contents from run to run: the second run sees total = 72 and
    // counter = 7, so 72 * 3 + 7 = 223.
    let out = bpfkit(&[
        "run",
        "loader/global_data.o",
        "--program",
        "global_data_mem",
        "--mem",
        "loader/input.bin",
        "--repeat",
        "2",
    ]);
    assert_eq!(success(&out), "0xdf\n");
    // A BTF-defined hash map: 88 = 0x58 (hash_map.c).
    let out = bpfkit(&[
        "run",
        "loader/hash_map.o",
        "--program",
        "hash_map_mem",
        "--mem",
        "loader/input.bin",
    ]);
    assert_eq!(success(&out), "0x58\n");
}

#[test]
fn run_sets_kconfig_externs_from_the_configuration_given() {
    // kconfig.c with this configuration and this host's kernel version (at least 4.0.0,
    // bit 0): CONFIG_BPF=n (bit 1 clear), CONFIG_BPF_SYSCALL=m (bit 3), the weak
    // CONFIG_BPFKIT_NOT_AN_OPTION=y (bit 4), HZ 123 (bit 5 clear), the hostname cut and
    // NUL-terminated at [15] (bit 6): 0b1011001 = 0x59, plus b[0] << 8: 0x159.
    let config = scratch(
        "kconfig.config",
        b"CONFIG_BPF=n\nCONFIG_BPF_SYSCALL=m\nCONFIG_HZ=123\nCONFIG_DEFAULT_HOSTNAME=\"0123456789abcdefXYZ\"\nCONFIG_BPFKIT_NOT_AN_OPTION=y\n",
    );
    let args = [
        "run",
        "loader/kconfig.o",
        "--program",
        "kconfig_mem",
        "--mem",
        "loader/input.bin",
        "--kconfig",
        config.to_str().unwrap(),
    ];
    assert_eq!(success(&bpfkit(&args)), "0x159\n");
    // A configuration without a strong extern's option names it.
    let config = scratch("kconfig-short.config", b"CONFIG_BPF=y\n");
    let mut args = args;
    args[7] = config.to_str().unwrap();
    fails_with(&bpfkit(&args), 2, "CONFIG_");
}

#[test]
fn disasm_interleaves_source_lines() {
    // What `llvm-objdump-19 -S --no-show-raw-insn fixtures/loader/static_data.o` prints for
    // section memory, whose DWARF and BTF line info agree.
    let expected = "\
0000000000000000 <static_data_mem>:
; \thits += end - start;
       0:\tr1 = 0x0 ll
       2:\tr0 = *(u32 *)(r1 + 0x0)
       3:\tr0 += r2
       4:\t*(u32 *)(r1 + 0x0) = r0
; \treturn seed ^ hits;
       5:\tr0 ^= 0x1234
; FIXTURE_ENTRY_POINTS(static_data)
       6:\tr0 <<= 0x20
       7:\tr0 >>= 0x20
       8:\texit
";
    let out = success(&bpfkit(&[
        "disasm",
        "-S",
        "loader/static_data.o",
        "--section",
        "memory",
    ]));
    assert!(out.ends_with(expected), "{out}");
    // Without -g there is no line info, and the listing is the plain one.
    let plain = success(&bpfkit(&["disasm", "loader/static_data.nog.o"]));
    let with_s = success(&bpfkit(&["disasm", "-S", "loader/static_data.nog.o"]));
    assert_eq!(plain, with_s);
}

#[test]
fn run_resolves_co_re_relocations_against_a_btf_file() {
    // fixtures/loader/core_target.c derives 0x5104050a for core_mem against its BTF.
    let out = bpfkit(&[
        "run",
        "loader/core.o",
        "--program",
        "core_mem",
        "--btf",
        "loader/core_target.btf",
        "--mem",
        "loader/input.bin",
    ]);
    assert_eq!(success(&out), "0x5104050a\n");
    // Not a BTF file: an input error naming it.
    fails_with(
        &bpfkit(&["run", "loader/core.o", "--btf", "loader/input.bin"]),
        2,
        "loader/input.bin is not a BTF file",
    );
}

#[test]
fn run_sets_globals_before_load() {
    // global_data.c: total * scale + counter = 36 * scale + 6; scale = 10 gives 366.
    let out = bpfkit(&[
        "run",
        "loader/global_data.o",
        "--program",
        "global_data_mem",
        "--mem",
        "loader/input.bin",
        "--set",
        "scale=0a000000",
    ]);
    assert_eq!(success(&out), "0x16e\n");
    fails_with(
        &bpfkit(&["run", "loader/global_data.o", "--set", "scale=0a"]),
        2,
        "global variable `scale`: it is 4 bytes, but 1 were given",
    );
}

#[test]
fn verify_accepts_every_fixture_the_kernel_accepts() {
    // fixtures/build.sh --kernel loads every *_xdp program into the kernel, whose verifier
    // accepts them; the section name says xdp.
    for name in ["hash", "parse", "checksum", "sort", "loop", "calls"] {
        let object = format!("{name}.o");
        let program = format!("{name}_xdp");
        let out = bpfkit(&["verify", &object, "--program", &program]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(stdout(&out).contains("accepted as xdp"), "{}", stdout(&out));
    }
}

#[test]
fn verify_explains_a_rejection_with_exit_status_1() {
    // Reading a stack slot nothing wrote: the kernel's check_stack_read says
    // "invalid read from stack off -8+0 size 8" for this program.
    let prog = "r0 = *(u64 *)(r10 - 8)\nexit\n";
    let out = bpfkit_stdin(&["verify", "-"], prog);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("rejected at instruction 0"), "{err}");
    assert!(
        err.contains("invalid read from stack off -8+0 size 8"),
        "{err}"
    );
    let out = bpfkit_stdin(&["verify", "-", "--json"], prog);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(json["accepted"], false);
    assert_eq!(json["type"], "memory");
    assert_eq!(json["rejection"]["pc"], 0);
    assert_eq!(
        json["rejection"]["kernel_message"],
        "invalid read from stack off -8+0 size 8"
    );
}

#[test]
fn verify_takes_the_type_from_the_flag_and_refuses_unknown_types() {
    // An XDP program may return without touching its context; `--log` traces it.
    let out = bpfkit_stdin(&["verify", "-", "--type", "xdp", "--log"], "r0 = 2\nexit\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("accepted as xdp"));
    assert!(stdout(&out).contains("0: r0 = 0x2"), "{}", stdout(&out));
    let out = bpfkit_stdin(&["verify", "-", "--type", "nosuch"], "r0 = 0\nexit\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown program type"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn disasm_jited_lists_native_code_under_each_instruction() {
    // Each BPF instruction of hash_mem heads its native code as `; <index>: <text>`, the
    // text as llvm-objdump-19 prints it (fixtures/hash.objdump, up to the xdp section).
    let out = bpfkit(&["disasm", "hash.o", "--program", "hash_mem", "--jited"]);
    let listing = success(&out);
    let objdump = std::fs::read_to_string(fixtures().join("hash.objdump")).unwrap();
    let memory_section = objdump.split("section xdp").next().unwrap();
    let mut headers = 0;
    for line in memory_section.lines() {
        let Some((index, text)) = line.trim_start().split_once(":\t") else {
            continue;
        };
        if index.parse::<usize>().is_err() {
            continue; // the file's header line
        }
        let header = format!("; {index}: {}", text.split(" <").next().unwrap());
        assert!(
            listing.contains(&header),
            "missing {header:?} in\n{listing}"
        );
        headers += 1;
    }
    assert_eq!(headers, 17, "hash_mem has 17 instructions in hash.objdump");
    assert!(listing.contains("ret"), "{listing}");
    // The listing options of the BPF listing do not apply to native code.
    let out = bpfkit(&["disasm", "hash.o", "--jited", "--raw"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_reuses_pinned_maps_and_writes_them_back() {
    // pinned.c adds the 4 bytes of b[0..8] above 4 to big_bytes[0], which it creates as 0
    // only if missing: 4 on the first run, 8 when the second finds the pinned map.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run-pins");
    let _ = std::fs::remove_dir_all(&dir);
    let args = [
        "run",
        "loader/pinned.o",
        "--program",
        "pinned_mem",
        "--mem",
        "loader/input.bin",
        "--pin-dir",
        dir.to_str().unwrap(),
    ];
    assert_eq!(success(&bpfkit(&args)), "0x4\n");
    assert_eq!(success(&bpfkit(&args)), "0x8\n");
    // The map commands read the same pin: key 0, value 8.
    let dump = bpfkit(&[
        "map",
        "dump",
        "big_bytes",
        "--pin-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        success(&dump),
        "key: 00 00 00 00  value: 08 00 00 00\nFound 1 element\n"
    );
}

#[test]
fn run_fills_program_arrays_from_the_objects_values() {
    // crates/vm/tests/calls/tail_calls.c, whose comments derive each result: tc_limit
    // reaches the limit of 33 tail calls, tc_chain gives 11, tc_from_sub 142 (the tail
    // call replaces the subprogram's frame), on both engines.
    let object = "../crates/vm/tests/calls/tail_calls.o";
    for engine in ["interp", "jit"] {
        for (program, expected) in [
            ("tc_limit", "0x21"),
            ("tc_chain", "0xb"),
            ("tc_from_sub", "0x8e"),
        ] {
            let out = bpfkit(&["run", object, "--program", program, "--engine", engine]);
            assert_eq!(
                success(&out),
                format!("{expected}\n"),
                "{program} on {engine}"
            );
        }
    }
}
