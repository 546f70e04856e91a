//! The object loader on arbitrary bytes: parsing, map definitions, CO-RE relocations
//! (against the object's own BTF), `__kconfig` externs (from a small configuration), the
//! BTF fixed up for the kernel, linking and relocating every program, and line info
//! must give a value or an error, never panic.
//! Maps are not created: a hostile definition may ask for any amount of memory, as it
//! may of the kernel. Seed the corpus with fixtures/loader/*.o and fixtures/*.o.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(mut object) = bpfkit_object::Object::parse(bytes) else {
        return;
    };
    if let Some(btf) = object.btf().cloned() {
        let _ = object.relocate_core(&btf);
    }
    let config = "CONFIG_BPF=y\nCONFIG_BPF_SYSCALL=m\nCONFIG_HZ=250\nCONFIG_DEFAULT_HOSTNAME=\"(none)\"\n";
    let mut config = bpfkit_object::Kconfig::parse(config).expect("a valid configuration");
    config.kernel_version = Some(bpfkit_object::kernel_version(6, 1, 0));
    let _ = object.resolve_kconfig(&config);
    let _ = (object.maps().len(), object.license(), object.kernel_version());
    let _ = object.kernel_btf();
    for program in object.programs() {
        let _ = program.insns();
        let _ = program.line_info();
    }
});
