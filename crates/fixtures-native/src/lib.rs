//! The fixtures' memory programs (fixtures/*.c) compiled for the host, for the benchmarks'
//! native baseline: the same C, the same input, no BPF in between.

/// A fixture compiled natively: `name_mem(mem, len)` as the C source defines it.
pub type NativeFn = unsafe extern "C" fn(*mut u8, u64) -> u64;

extern "C" {
    fn hash_mem(mem: *mut u8, len: u64) -> u64;
    fn parse_mem(mem: *mut u8, len: u64) -> u64;
    fn checksum_mem(mem: *mut u8, len: u64) -> u64;
    fn sort_mem(mem: *mut u8, len: u64) -> u64;
    fn loop_mem(mem: *mut u8, len: u64) -> u64;
    fn calls_mem(mem: *mut u8, len: u64) -> u64;
}

/// The compiler that built them.
pub const COMPILER: &str = env!("FIXTURES_NATIVE_CC");

/// The native function of fixture `name` (`hash`, `parse`, ...), if there is one.
pub fn function(name: &str) -> Option<NativeFn> {
    Some(match name {
        "hash" => hash_mem,
        "parse" => parse_mem,
        "checksum" => checksum_mem,
        "sort" => sort_mem,
        "loop" => loop_mem,
        "calls" => calls_mem,
        _ => return None,
    })
}

/// Runs fixture `name` natively on `mem`.
pub fn run(name: &str, mem: &mut [u8]) -> Option<u64> {
    let f = function(name)?;
    // SAFETY: the fixtures read at most `len` bytes from `mem` (they check every access
    // against `mem + len`, as the kernel's verifier demands of their XDP twins), and
    // tests/expected.rs checks them against the reference values.
    Some(unsafe { f(mem.as_mut_ptr(), mem.len() as u64) })
}
