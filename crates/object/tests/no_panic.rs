//! Hostile input never panics: random bytes, and fixture objects with random bytes
//! overwritten or cut short, give an object or an error, and so does linking every
//! program of whatever parsed and asking for its line info. The loader fixtures add maps,
//! global data and BTF to corrupt.

mod common;

use bpfkit_object::Object;
use common::*;
use proptest::prelude::*;

/// Parses and links everything; the results do not matter, only that nothing panics.
fn read_everything(bytes: &[u8]) {
    if let Ok(object) = Object::parse(bytes) {
        for program in object.programs() {
            let _ = program.insns();
            let _ = program.line_info();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        read_everything(&bytes);
    }

    #[test]
    fn random_bytes_behind_an_elf_header(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        // A valid BPF header (from a fixture) followed by garbage exercises the table readers.
        let mut bytes = fixture("hash")[..64].to_vec();
        bytes.extend(tail);
        read_everything(&bytes);
    }

    #[test]
    fn corrupted_fixtures(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = fixture(FIXTURES[which]);
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        read_everything(&bytes);
    }

    #[test]
    fn corrupted_loader_fixtures(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(
            (0..5usize, any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        // The structures a loader reads beyond code: the symbols (maps, variables), .BTF
        // and .BTF.ext, anywhere else (.maps, data sections, relocations).
        let files = ["hash_map.o", "map_in_map.o", "global_data.o", "data_and_maps.o",
            "subprog_maps.o", "prog_array.o", "loop_callback.o"];
        let mut bytes = loader_fixture(files[which.index(files.len())]);
        let extent = |name: &str| {
            let header = section_header(&bytes, section_index(&bytes, name));
            let size = u64::from_le_bytes(
                bytes[header + SH_SIZE..header + SH_SIZE + 8].try_into().unwrap());
            (section_data(&bytes, name), size as usize)
        };
        let regions = [extent(".symtab"), extent(".BTF"), extent(".BTF.ext"),
            extent(".rel.BTF.ext"), (0, bytes.len())];
        for (region, at, value) in edits {
            let (start, len) = regions[region];
            if len > 0 {
                bytes[start + at.index(len)] = value;
            }
        }
        read_everything(&bytes);
    }

    #[test]
    fn corrupted_fixture_structures(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec(
            (0..5usize, any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        // Random edits of a whole file mostly hit DWARF; these aim at what the reader
        // interprets: the file header, section headers, symbols, relocations and code.
        let mut bytes = fixture(FIXTURES[which]);
        let regions = structures(&bytes);
        for (region, at, value) in edits {
            let (start, len) = regions[region];
            bytes[start + at.index(len)] = value;
        }
        read_everything(&bytes);
    }
}

/// (start, length) of the file header, the section header table, `.symtab`, `.rel.BTF.ext`
/// and `xdp` in a fixture.
fn structures(bytes: &[u8]) -> [(usize, usize); 5] {
    let extent = |name: &str| {
        let header = section_header(bytes, section_index(bytes, name));
        let size = u64::from_le_bytes(
            bytes[header + SH_SIZE..header + SH_SIZE + 8]
                .try_into()
                .unwrap(),
        );
        (section_data(bytes, name), size as usize)
    };
    let table = section_header(bytes, 0);
    [
        (0, 64),
        (table, bytes.len() - table),
        extent(".symtab"),
        extent(".rel.BTF.ext"),
        extent("xdp"),
    ]
}
