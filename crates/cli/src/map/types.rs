//! Map type names: `enum bpf_map_type`'s names in lower case without their
//! `BPF_MAP_TYPE_` prefix, as bpftool spells them.

use bpfkit_vm::maps::MapType;
use clap::builder::PossibleValue;
use clap::ValueEnum;

/// The name of `map_type`.
pub fn name(map_type: MapType) -> &'static str {
    match map_type {
        MapType::Hash => "hash",
        MapType::Array => "array",
        MapType::ProgArray => "prog_array",
        MapType::PerfEventArray => "perf_event_array",
        MapType::PercpuHash => "percpu_hash",
        MapType::PercpuArray => "percpu_array",
        MapType::LruHash => "lru_hash",
        MapType::LruPercpuHash => "lru_percpu_hash",
        MapType::LpmTrie => "lpm_trie",
        MapType::ArrayOfMaps => "array_of_maps",
        MapType::HashOfMaps => "hash_of_maps",
        MapType::DevMap => "devmap",
        MapType::CpuMap => "cpumap",
        MapType::XskMap => "xskmap",
        MapType::DevMapHash => "devmap_hash",
        MapType::Queue => "queue",
        MapType::Stack => "stack",
        MapType::Ringbuf => "ringbuf",
    }
}

/// A map type `bpfkit map create` accepts: those whose elements are plain bytes. The
/// others (program arrays, perf event arrays, maps of maps) hold descriptors of a running
/// process's programs, maps or perf events, which mean nothing once that process is gone.
#[derive(Clone, Copy, Debug)]
pub struct Creatable(pub MapType);

impl ValueEnum for Creatable {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Creatable(MapType::Hash),
            Creatable(MapType::Array),
            Creatable(MapType::PercpuHash),
            Creatable(MapType::PercpuArray),
            Creatable(MapType::LruHash),
            Creatable(MapType::LruPercpuHash),
            Creatable(MapType::LpmTrie),
            Creatable(MapType::Queue),
            Creatable(MapType::Stack),
            Creatable(MapType::Ringbuf),
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(name(self.0)))
    }
}
