//! The fixtures of crates/vm/tests/calls loaded as libbpf loads an object, for either
//! engine: shared by the tests (tests/calls.rs) and the benchmark (benches/calls.rs).

use bpfkit_isa::Insn;
use bpfkit_jit::JitProgram;
use bpfkit_object::Object;
use bpfkit_vm::helpers::linux::{self, Runtime};
use bpfkit_vm::maps::ProgramFd;
use bpfkit_vm::{Engine, Helpers, Interpreter, Invocation, Outcome, VmError};
use std::path::PathBuf;
use std::process::Command;

/// The compiled fixture `name`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../vm/tests/calls/{name}.o"))
}

/// Which engine to prepare programs for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Interp,
    Jit,
}

/// A prepared program of either engine, and its descriptor.
pub fn prepare(kind: Kind, insns: &[Insn], helpers: &Helpers) -> (Box<dyn Engine>, ProgramFd) {
    let engine: Box<dyn Engine> = match kind {
        Kind::Interp => Box::new(Interpreter::new(insns, helpers).unwrap()),
        Kind::Jit => Box::new(JitProgram::new(insns, helpers).unwrap()),
    };
    let fd = engine.program_fd();
    (engine, fd)
}

/// Every program of an object prepared for one engine, with the object's program arrays
/// filled with them, as libbpf loads an object.
pub struct Loaded {
    pub runtime: Runtime,
    pub programs: Vec<(String, Box<dyn Engine>)>,
    /// Kept alive: the program arrays refer to the programs through them.
    _fds: Vec<ProgramFd>,
}

pub fn load(object: &str, kind: Kind) -> Loaded {
    let loaded = Object::parse(&std::fs::read(fixture(object)).unwrap())
        .unwrap()
        .load()
        .unwrap();
    let runtime = Runtime::new(loaded.maps.clone());
    let mut helpers = Helpers::new();
    linux::register(&mut helpers, &runtime);
    let mut programs = Vec::new();
    let mut fds = Vec::new();
    for p in &loaded.programs {
        let insns = runtime.maps.relocate(&p.insns).unwrap();
        let (engine, fd) = prepare(kind, &insns, &helpers);
        programs.push((p.name.clone(), engine));
        fds.push((p.name.clone(), fd));
    }
    loaded
        .fill_program_arrays(|name| fds.iter().find(|(n, _)| n == name).map(|(_, fd)| fd.fd()))
        .unwrap();
    Loaded {
        runtime,
        programs,
        _fds: fds.into_iter().map(|(_, fd)| fd).collect(),
    }
}

impl Loaded {
    /// Runs `name` once on a 64-byte zeroed context.
    pub fn run(&mut self, name: &str) -> Result<Outcome, VmError> {
        let (_, engine) = self
            .programs
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no program {name}"));
        let mut mem = [0u8; 64];
        let mut inv = Invocation::memory(&mut mem);
        self.runtime.maps.add_value_regions(&mut inv.memory);
        engine.run(inv)
    }
}

/// The kernel's input: 64 zero bytes in a file (bpftool reads the packet from one).
pub fn input_file() -> PathBuf {
    std::env::temp_dir().join(format!("bpfkit-calls-{}.bin", std::process::id()))
}

/// Loads `object` with bpftool (libbpf: BTF, callbacks' func_info, program arrays from
/// `.values`) under `pins` unless it is there, maps pinned too so that the program arrays
/// keep their slots (the kernel empties a program array no user space holds), and runs
/// `program` `repeat` times with `BPF_PROG_TEST_RUN` on [`input_file`]: its return value
/// and the kernel's average time per run in ns.
pub fn kernel_run(
    pins: &std::path::Path,
    object: &str,
    program: &str,
    repeat: u32,
) -> Result<(u64, u64), String> {
    let dir = pins.join(object);
    if !dir.exists() {
        let out = Command::new("bpftool")
            .arg("prog")
            .arg("loadall")
            .arg(fixture(object))
            .arg(&dir)
            .args(["type", "xdp", "pinmaps"])
            .arg(pins.join(format!("{object}-maps")))
            .output()
            .map_err(|e| format!("bpftool: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
    }
    let input = input_file();
    std::fs::write(&input, [0u8; 64]).map_err(|e| e.to_string())?;
    let out = Command::new("bpftool")
        .args(["prog", "run", "pinned"])
        .arg(dir.join(program))
        .arg("data_in")
        .arg(&input)
        .args(["repeat", &repeat.to_string()])
        .output()
        .map_err(|e| format!("bpftool: {e}"))?;
    // "Return value: 33, duration (average): 1803ns"
    let text = String::from_utf8_lossy(&out.stdout);
    let number = |s: &str| -> Option<u64> {
        s.trim_start_matches(|c: char| !c.is_ascii_digit())
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    text.lines()
        .find_map(|l| {
            let (r0, duration) = l.strip_prefix("Return value: ")?.split_once(',')?;
            Some((number(r0)?, number(duration)?))
        })
        .ok_or_else(|| format!("no return value in {text:?}"))
}
