//! The object loader on arbitrary bytes: parsing, map definitions, CO-RE relocations
//! (against the object's own BTF), linking and relocating every program, and line info
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
    let _ = (object.maps().len(), object.license(), object.kernel_version());
    for program in object.programs() {
        let _ = program.insns();
        let _ = program.line_info();
    }
});
