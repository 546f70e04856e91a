//! The negative corpus in C (fixtures/verifier/reject_c, built by its build.sh with
//! clang-19 -O2): programs that break one rule of `bpf_spin_lock` or `bpf_snprintf`, which
//! only an object's BTF (where the lock is) and frozen `.rodata` (the format) let the
//! verifier check. Each source records, in its first comment lines:
//!
//!   `// at: 17`                    slot of the offending instruction (read from the
//!                                  llvm-objdump-19 disassembly next to it)
//!   `// bpfkit: <text>`            bpfkit's rejection contains it (repeatable)
//!   `// kernel: rejects: <text>`   the kernel's log contains it
//!
//! Each program is rejected by bpfkit at the recorded slot for the recorded reason and,
//! where this process may load programs, by the kernel (the object loaded with its maps'
//! BTF and its `.rodata` frozen, as libbpf loads it).

mod common;

use bpfkit_object::Object;
use bpfkit_verifier::{verify, ProgType};
use common::{fixtures_dir, kernel_type, kernel_verdict, object_options};

/// The values of the `// key: value` header lines of a source.
fn header<'a>(source: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("// {key}:");
    source
        .lines()
        .take_while(|l| l.starts_with("//"))
        .filter_map(|l| l.strip_prefix(prefix.as_str()).map(str::trim))
        .collect()
}

#[test]
fn every_program_is_rejected_by_bpfkit_and_the_kernel_as_recorded() {
    let kernel = bpfkit_kernel::available();
    if let Err(why) = &kernel {
        println!("kernel verdicts skipped: this process may not load BPF programs ({why})");
    }
    let dir = fixtures_dir().join("verifier/reject_c");
    let mut sources: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/verifier/reject_c")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let mut failures = Vec::new();
    let mut kernel_rejected = 0;
    for source_path in &sources {
        let name = source_path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let source = std::fs::read_to_string(source_path).unwrap();
        let at: usize = header(&source, "at")
            .first()
            .unwrap_or_else(|| panic!("{name}: no `// at:`"))
            .parse()
            .expect("a slot");
        let wanted = header(&source, "bpfkit");
        let kernel_text = header(&source, "kernel")
            .first()
            .and_then(|k| k.strip_prefix("rejects:"))
            .unwrap_or_else(|| panic!("{name}: no `// kernel: rejects: <text>`"))
            .trim();
        assert!(!wanted.is_empty(), "{name}: no `// bpfkit:`");
        let object = Object::parse(&std::fs::read(dir.join(format!("{name}.o"))).unwrap())
            .expect("object parses");
        let program = object.program(&name).expect("a program named as its file");
        let prog_type = ProgType::for_section(program.section()).expect("a known section");
        let opts = object_options(&object, &program);
        match verify(&program.insns().expect("links"), prog_type, &opts) {
            Ok(_) => failures.push(format!("{name}: bpfkit accepts it")),
            Err(r) => {
                let text = r.to_string();
                println!(
                    "{name}: bpfkit rejects it at {}: {}",
                    r.pc, r.kernel_message
                );
                if r.pc != at {
                    failures.push(format!("{name}: rejected at {} not {at}:\n{text}", r.pc));
                }
                for want in &wanted {
                    if !text.contains(want) {
                        failures.push(format!("{name}: `{want}` not in:\n{text}"));
                    }
                }
            }
        }
        if kernel.is_err() {
            continue;
        }
        let kt = kernel_type(prog_type.name).expect("a type the kernel loads");
        match kernel_verdict(&object, &name, kt) {
            Some(Ok(())) => failures.push(format!("{name}: the kernel accepts it")),
            Some(Err(log)) if log.contains(kernel_text) => kernel_rejected += 1,
            Some(Err(log)) => failures.push(format!(
                "{name}: `{kernel_text}` not in the kernel's log:\n{log}"
            )),
            None => {}
        }
    }
    println!(
        "{} programs, {kernel_rejected} rejected by the kernel as recorded",
        sources.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        sources.len() >= 13,
        "the corpus shrank to {}",
        sources.len()
    );
}
