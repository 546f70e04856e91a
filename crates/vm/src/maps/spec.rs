//! What a map is: its type (Linux's `enum bpf_map_type` numbers) and its attributes.

use super::cpu;
use super::error::MapError;

/// Map types, numbered as `enum bpf_map_type` in `linux/bpf.h`. Only the types bpfkit
/// knows are listed; [`MapType::from_raw`] answers `None` for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MapType {
    Hash = 1,
    Array = 2,
    ProgArray = 3,
    PerfEventArray = 4,
    PercpuHash = 5,
    PercpuArray = 6,
    LruHash = 9,
    LruPercpuHash = 10,
    LpmTrie = 11,
    ArrayOfMaps = 12,
    HashOfMaps = 13,
    DevMap = 14,
    CpuMap = 16,
    XskMap = 17,
    Queue = 22,
    Stack = 23,
    DevMapHash = 25,
    Ringbuf = 27,
}

impl MapType {
    /// The type numbered `raw` in `enum bpf_map_type`, if bpfkit knows it.
    pub fn from_raw(raw: u32) -> Option<MapType> {
        use MapType::*;
        [
            Hash,
            Array,
            ProgArray,
            PerfEventArray,
            PercpuHash,
            PercpuArray,
            LruHash,
            LruPercpuHash,
            LpmTrie,
            ArrayOfMaps,
            HashOfMaps,
            DevMap,
            CpuMap,
            XskMap,
            Queue,
            Stack,
            DevMapHash,
            Ringbuf,
        ]
        .into_iter()
        .find(|t| *t as u32 == raw)
    }

    /// Whether elements keep one value per CPU.
    pub fn is_percpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash
        )
    }

    /// The map creation flags Linux accepts for this type (`*_CREATE_FLAG_MASK` in
    /// kernel/bpf/): others are `-EINVAL`.
    fn allowed_flags(self) -> u32 {
        const NO_PREALLOC: u32 = 1 << 0;
        const NO_COMMON_LRU: u32 = 1 << 1;
        const NUMA_NODE: u32 = 1 << 2;
        // BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG.
        const ACCESS: u32 = (1 << 3) | (1 << 4) | (1 << 7) | (1 << 8);
        const ZERO_SEED: u32 = 1 << 6;
        const MMAPABLE: u32 = 1 << 10;
        const PRESERVE_ELEMS: u32 = 1 << 11;
        const INNER_MAP: u32 = 1 << 12;
        match self {
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                NO_PREALLOC | NO_COMMON_LRU | NUMA_NODE | ACCESS | ZERO_SEED
            }
            MapType::Array | MapType::PercpuArray | MapType::ProgArray => {
                NUMA_NODE | MMAPABLE | ACCESS | PRESERVE_ELEMS | INNER_MAP
            }
            MapType::LpmTrie => NO_PREALLOC | NUMA_NODE | ACCESS,
            MapType::Queue | MapType::Stack => NUMA_NODE | ACCESS,
            MapType::Ringbuf => NUMA_NODE,
            MapType::PerfEventArray | MapType::ArrayOfMaps | MapType::HashOfMaps => {
                NUMA_NODE | ACCESS | INNER_MAP
            }
            // DEV_CREATE_FLAG_MASK and xsk_map_alloc's mask: BPF_F_RDONLY, BPF_F_WRONLY.
            MapType::DevMap | MapType::DevMapHash | MapType::XskMap => {
                NUMA_NODE | (1 << 3) | (1 << 4)
            }
            MapType::CpuMap => NUMA_NODE,
        }
    }
}

/// A map's attributes, as in `BPF_MAP_CREATE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    pub map_type: MapType,
    /// Key size in bytes (0 for queues, stacks and ring buffers).
    pub key_size: u32,
    /// Value size in bytes of one CPU's value (0 for ring buffers).
    pub value_size: u32,
    /// Capacity in elements (in bytes for ring buffers).
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    pub flags: u32,
    /// A name, for display (`BPF_OBJ_NAME_LEN`: at most 15 bytes in Linux).
    pub name: String,
}

impl MapSpec {
    /// Whether programs may write values through the pointers lookups give them: not
    /// with `BPF_F_RDONLY_PROG`, so a value region of such a map is read-only.
    pub fn program_writable(&self) -> bool {
        self.flags & super::BPF_F_RDONLY_PROG == 0
    }

    /// A spec without flags or name.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> Self {
        MapSpec {
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            name: String::new(),
        }
    }

    /// The same spec with creation flags `flags`.
    pub fn with_flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }

    /// Size of a value as user space reads and writes it: for per-CPU maps one slot per
    /// possible CPU, each rounded up to 8 bytes (as `bpf_map_value_size` in Linux).
    pub fn user_value_size(&self) -> usize {
        if self.map_type.is_percpu() {
            round8(self.value_size as usize) * cpu::possible()
        } else {
            self.value_size as usize
        }
    }

    /// Checks what every type checks: known creation flags and a non-zero capacity.
    pub(super) fn check_common(&self) -> Result<(), MapError> {
        if self.flags & !self.map_type.allowed_flags() != 0 || self.max_entries == 0 {
            return Err(MapError::Invalid);
        }
        Ok(())
    }
}

/// `n` rounded up to a multiple of 8.
pub(super) fn round8(n: usize) -> usize {
    n.div_ceil(8) * 8
}
