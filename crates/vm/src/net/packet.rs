//! The packet of a run and the program type's real context, as helpers see them.
//!
//! The packet lives in one buffer with room before it (headroom) and after it (tailroom),
//! as the kernel's test run lays it out, so that helpers growing or shrinking the packet
//! move its bounds inside the buffer. The real context is a `#[repr(C)]` struct whose
//! pointer fields hold host addresses of the packet's bounds; whenever a helper moves the
//! bounds (or the buffer itself), [`PacketState::resync`], which the engines call after
//! every helper call, rewrites those fields and the run's memory region of the packet,
//! in one place for every program type.

use crate::memory::{Memory, Region};
use std::any::Any;

/// Host addresses of the packet's bounds, as a context's pointer fields hold them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Start of the metadata in front of the packet (equal to `data` when there is none).
    pub meta: u64,
    /// First byte of the packet.
    pub data: u64,
    /// One past the last byte of the packet.
    pub data_end: u64,
}

/// A program type's real context: the `#[repr(C)]` struct that converted context accesses
/// read and write (see [`super::convert`]).
pub trait Context: Any + Send {
    /// Stores the packet's bounds in the struct's pointer fields.
    fn set_bounds(&mut self, bounds: Bounds);
    /// The struct, for helpers that read or write its fields.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Where the packet's headers are, for the types whose legacy packet loads take
    /// offsets relative to them; `None` for the others.
    fn headers(&self) -> Option<Headers> {
        None
    }
    /// How many bytes at the end of the struct are not context but an object the context
    /// points to (the skb's socket): programs get them as a read-only region of their
    /// own, the context's region ending before them.
    fn read_only_tail(&self) -> usize {
        0
    }
}

/// Buffer offsets of a packet's headers, as an skb records them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers {
    /// The MAC header, if it was set.
    pub mac: Option<usize>,
    /// The network header.
    pub network: usize,
}

/// Base of the legacy packet load offsets that are relative to the network header
/// (`SKF_NET_OFF`).
pub const SKF_NET_OFF: i32 = -0x100000;
/// Base of the legacy packet load offsets that are relative to the MAC header
/// (`SKF_LL_OFF`).
pub const SKF_LL_OFF: i32 = -0x200000;

/// Where a redirect helper sent the packet: what the kernel acts on when the program
/// returns the redirect verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// To the device with this ifindex (`bpf_redirect`), with the helper's flags.
    Ifindex { ifindex: u32, flags: u64 },
    /// To the target stored at `key` of a device, CPU or socket map (`bpf_redirect_map`);
    /// `map` is the map's index in the program's map table; `flags` are the helper's
    /// broadcast flags (`BPF_F_BROADCAST`, `BPF_F_EXCLUDE_INGRESS`), 0 without broadcast.
    Map { map: u32, key: u32, flags: u64 },
}

/// The per-run state of a redirect, as the kernel's `struct bpf_redirect_info` keeps it:
/// a target index, and the map it indexes when the last successful call was
/// `bpf_redirect_map`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedirectInfo {
    /// The last target index stored (an ifindex, or a map key), with `bpf_redirect`'s flags.
    target: Option<(u32, u64)>,
    /// The map of the last successful `bpf_redirect_map` (unless a later call replaced
    /// it), with its broadcast flags.
    map: Option<(u32, u64)>,
}

impl RedirectInfo {
    /// `bpf_redirect(ifindex, flags)` succeeded.
    pub fn set_ifindex(&mut self, ifindex: u32, flags: u64) {
        self.target = Some((ifindex, flags));
        self.map = None;
    }

    /// `bpf_redirect_map(map, key, ..)` found `key`.
    pub fn set_map(&mut self, map: u32, key: u32, flags: u64) {
        self.target = Some((key, 0));
        self.map = Some((map, flags));
    }

    /// `bpf_redirect_map` did not find its key: as the kernel, forget the map but keep
    /// the last target index, so the redirect falls back to that index as an ifindex.
    pub fn clear_map(&mut self) {
        self.map = None;
    }

    /// Where the packet goes if the program returns the redirect verdict, if anywhere.
    pub fn target(&self) -> Option<Redirect> {
        let (index, flags) = self.target?;
        Some(match self.map {
            Some((map, flags)) => Redirect::Map {
                map,
                key: index,
                flags,
            },
            None => Redirect::Ifindex {
                ifindex: index,
                flags,
            },
        })
    }
}

/// The packet of a run, its real context and what helpers recorded about it. Kept
/// between runs so that the buffer is allocated once for many packets.
pub struct PacketState {
    buf: Vec<u8>,
    /// Bytes of `buf` that may not be zero (all others are), so that laying out the next
    /// packet clears only what the last run touched: the program writes only inside the
    /// packet's bounds, helpers through the methods below, which widen this.
    dirty: std::ops::Range<usize>,
    meta: usize,
    data: usize,
    end: usize,
    ctx: Box<dyn Context>,
    /// The context as the last packet was laid out with it ([`PacketState::save_layout`]).
    saved_ctx: Box<dyn Context>,
    /// Copies a context into another of the type `new` was given, which `ctx` and
    /// `saved_ctx` are.
    copy_ctx: unsafe fn(*mut (), *const ()),
    /// Where `load` put the last packet, in a buffer of which requested length.
    loaded: (usize, usize),
    /// How the last packet was laid out ([`PacketState::save_layout`]).
    saved: SavedLayout,
    /// Whether the buffer, the bounds and the bytes that may not be zero (`dirty`) are
    /// still as they were when the packet was last laid out as saved, the buffer where it
    /// was saved: then only the packet's bytes and the context may differ from the saved
    /// layout. Everything that moves the bounds or the buffer or widens `dirty` (`load`,
    /// `set_bounds`, `grow`, `touch`) clears it.
    as_saved: bool,
    /// Whether legacy packet loads (`LD_ABS`/`LD_IND`) read `[data, data_end)`.
    legacy_loads: bool,
    /// The packet region last handed to a run's memory, which `resync` replaces.
    installed: Option<Region>,
    /// Whether the bounds or the buffer moved since the context and the memory last saw
    /// them.
    moved: bool,
    /// What the redirect helpers recorded during the run.
    pub redirect: RedirectInfo,
}

impl std::fmt::Debug for PacketState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketState")
            .field("buffer_len", &self.buf.len())
            .field("meta", &self.meta)
            .field("data", &self.data)
            .field("data_end", &self.end)
            .field("redirect", &self.redirect)
            .finish()
    }
}

/// How a packet was laid out, its context's pointers set, before its first run: what
/// [`PacketState::relay`] lays out again.
#[derive(Clone, Copy, Debug, Default)]
struct SavedLayout {
    /// Where `load` put the packet, in a buffer of which requested length.
    loaded: (usize, usize),
    /// The bounds: metadata, data, end.
    bounds: [usize; 3],
    /// The buffer's address and length, which the context's pointers were set from.
    buffer: (usize, usize),
}

/// Copies a packet's bytes `from` into `to` in 16-byte moves rather than through the C
/// library's `memcpy` (32-byte moves here), with which the runs that read these bytes
/// right after were slower for some placements of the buffers. Measured on the x86-64
/// machines bpfkit is benched on: `xdp_count` (which parses the headers it is given) on
/// the JIT ran at 22 or 29 million packets/s with `memcpy` depending only on the paths
/// given to `bpfkit test-run` (and so on where the heap placed the buffers), at 28 million
/// with either path so; `xdp_drop` (which reads none) runs a few percent slower so. `to`
/// and `from` have the same length (the callers slice `to` to the length of `from`).
#[inline(always)]
fn copy_packet(to: &mut [u8], from: &[u8]) {
    let n = from.len();
    if n < 16 || to.len() != n {
        to.copy_from_slice(from);
        return;
    }
    let mut at = 0;
    while at < n - 16 {
        to[at..at + 16].copy_from_slice(&from[at..at + 16]);
        at += 16;
    }
    // The last 16 bytes, overlapping the moves before when the length is not a multiple
    // of 16: the same bytes again.
    to[n - 16..].copy_from_slice(&from[n - 16..]);
}

/// Copies a context of type `C` into another: how [`PacketState::relay`] restores the
/// context a packet was laid out with.
///
/// # Safety
/// Both pointers point to `C`s (`to` exclusively).
unsafe fn copy_context<C: Copy>(to: *mut (), from: *const ()) {
    // SAFETY: the caller's promise; `C` is plain data.
    unsafe { *to.cast::<C>() = *from.cast::<C>() };
}

impl PacketState {
    /// An empty packet with a context of type `C` (plain data, which is copied to lay a
    /// packet out again); `legacy_loads` says whether the program type has
    /// `LD_ABS`/`LD_IND` (socket filters and tc).
    pub fn new<C: Context + Copy + Default>(legacy_loads: bool) -> PacketState {
        PacketState {
            buf: Vec::new(),
            dirty: 0..0,
            meta: 0,
            data: 0,
            end: 0,
            ctx: Box::new(C::default()),
            saved_ctx: Box::new(C::default()),
            copy_ctx: copy_context::<C>,
            loaded: (0, 0),
            saved: SavedLayout::default(),
            as_saved: false,
            legacy_loads,
            installed: None,
            moved: false,
            redirect: RedirectInfo::default(),
        }
    }

    /// Lays out a new packet: `headroom` zero bytes, `data`, then zero bytes up to a
    /// buffer of `buffer_len` bytes (which must hold the headroom and the data), without
    /// metadata, and forgets the last run's redirect. Reuses the allocation.
    #[inline]
    pub fn load(&mut self, headroom: usize, data: &[u8], buffer_len: usize) {
        let end = headroom + data.len();
        let new = headroom..end;
        if self.buf.len() != buffer_len.max(end) {
            self.buf.clear();
            self.buf.resize(buffer_len.max(end), 0);
        } else if self.dirty != new {
            // The new packet overwrites the bytes it covers: clear only the rest of what
            // the last run may have touched (nothing, for packets of one length whose run
            // wrote inside them).
            self.clear_around(new.clone());
        }
        copy_packet(&mut self.buf[new.clone()], data);
        self.loaded = (headroom, buffer_len);
        self.dirty = new;
        self.as_saved = false;
        self.meta = headroom;
        self.data = headroom;
        self.end = end;
        // The buffer may have moved, the bounds have: the next resync brings the context
        // and the memory up to date.
        self.moved = true;
        self.redirect = RedirectInfo::default();
    }

    /// Zeroes the bytes the last run may have touched outside `new`.
    #[cold]
    fn clear_around(&mut self, new: std::ops::Range<usize>) {
        let old = self.dirty.clone();
        let before = old.start..old.end.min(new.start).max(old.start);
        let after = old.start.max(new.end).min(old.end)..old.end;
        for range in [before, after] {
            if !range.is_empty() {
                self.buf[range].fill(0);
            }
        }
    }

    /// Remembers how the packet is laid out now (where it was loaded, its bounds, the
    /// context), for [`PacketState::relay`]: a program type's `prepare` has just laid it
    /// out from its input, and [`PacketState::resync`] has set the context's pointers.
    pub(crate) fn save_layout(&mut self) {
        self.saved = SavedLayout {
            loaded: self.loaded,
            bounds: [self.meta, self.data, self.end],
            buffer: self.buffer_place(),
        };
        self.as_saved = true;
        self.copy_context(false);
    }

    /// The buffer's address and length.
    #[inline(always)]
    fn buffer_place(&self) -> (usize, usize) {
        (self.buf.as_ptr() as usize, self.buf.len())
    }

    /// Lays `data`, the packet of the last [`PacketState::save_layout`], out again as it
    /// was then: loaded at the same place, with the same bounds and context. What the
    /// type's `prepare` would do again with the same input, without checking it again.
    /// (Given other bytes, the bounds stay inside the buffer all the same: `set_bounds`
    /// checks them.)
    ///
    /// When the last run left the layout as saved (`as_saved`: the buffer and the bounds
    /// did not move) and wrote nothing outside the bytes the packet was loaded into
    /// (`dirty`, which helpers widen when they write elsewhere; the program's own stores
    /// reach only the packet's region, which lies inside them), copying the bytes and the
    /// saved context back is the whole layout: the context's pointers and the packet's
    /// region are already those of the saved layout.
    #[inline]
    pub(crate) fn relay(&mut self, data: &[u8]) {
        let (at, buffer_len) = self.saved.loaded;
        if self.as_saved && self.dirty == (at..at + data.len()) {
            copy_packet(&mut self.buf[self.dirty.clone()], data);
            self.redirect = RedirectInfo::default();
        } else {
            self.load(at, data, buffer_len);
            let [meta, start, end] = self.saved.bounds;
            let kept = self.set_bounds(meta, start, end);
            debug_assert!(kept, "the bounds of the packet laid out before");
            // Laid out as saved again: unless the buffer moved (a helper grew it), the
            // saved context's pointers are right for the next run.
            self.as_saved = self.buffer_place() == self.saved.buffer;
        }
        self.copy_context(true);
    }

    /// Copies the context saved by [`PacketState::save_layout`] into the context
    /// (`restore`), or the context into the saved one.
    #[inline(always)]
    fn copy_context(&mut self, restore: bool) {
        let (to, from) = if restore {
            (&mut *self.ctx, &*self.saved_ctx)
        } else {
            (&mut *self.saved_ctx, &*self.ctx)
        };
        // SAFETY: both contexts were made as the type of `copy_ctx` by `new`, and neither
        // box is ever replaced.
        unsafe {
            (self.copy_ctx)(
                (to as *mut dyn Context).cast(),
                (from as *const dyn Context).cast(),
            )
        };
    }

    /// The whole buffer: headroom, metadata, packet and tailroom.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The whole buffer, for writing.
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        self.touch(0, self.buf.len());
        &mut self.buf
    }

    /// Copies the bytes `src` of the buffer to offset `dest`, as `memmove`.
    pub fn copy_within(&mut self, src: std::ops::Range<usize>, dest: usize) {
        self.touch(dest, dest + src.len());
        self.buf.copy_within(src, dest);
    }

    /// Sets the bytes `range` of the buffer to zero.
    pub fn zero(&mut self, range: std::ops::Range<usize>) {
        self.buf[range].fill(0);
    }

    /// Widens the range of bytes that may not be zero to cover `[lo, hi)`.
    #[inline]
    fn touch(&mut self, lo: usize, hi: usize) {
        self.as_saved = false;
        if self.dirty.is_empty() {
            self.dirty = lo..hi;
        } else {
            self.dirty = self.dirty.start.min(lo)..self.dirty.end.max(hi);
        }
    }

    /// Offset in the buffer of the metadata's start (`data_meta`).
    pub fn meta(&self) -> usize {
        self.meta
    }

    /// Offset in the buffer of the packet's first byte (`data`).
    pub fn data(&self) -> usize {
        self.data
    }

    /// Offset in the buffer one past the packet's last byte (`data_end`).
    pub fn data_end(&self) -> usize {
        self.end
    }

    /// The packet's bytes, `[data, data_end)`.
    #[inline]
    pub fn packet(&self) -> &[u8] {
        &self.buf[self.data..self.end]
    }

    /// The packet's bytes, for writing.
    pub fn packet_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.data..self.end]
    }

    /// The metadata and the packet, `[data_meta, data_end)`.
    #[inline]
    pub fn meta_and_packet(&self) -> &[u8] {
        &self.buf[self.meta..self.end]
    }

    /// Moves the bounds to the buffer offsets given, which must be ordered
    /// (`meta <= data <= data_end`) and inside the buffer; out of order or out of range,
    /// nothing changes and the answer is `false`. The engines resync after the helper
    /// returns ([`PacketState::resync`]).
    #[inline]
    pub fn set_bounds(&mut self, meta: usize, data: usize, data_end: usize) -> bool {
        if meta > data || data > data_end || data_end > self.buf.len() {
            return false;
        }
        (self.meta, self.data, self.end) = (meta, data, data_end);
        // The program may write anywhere inside the new bounds.
        self.touch(meta, data_end);
        self.moved = true;
        true
    }

    /// Grows the buffer by `front` bytes before and `back` bytes after its current
    /// contents (zeroed), keeping the bounds on the same bytes: for helpers that need more
    /// head- or tailroom than the buffer has. The engines resync after the helper
    /// returns ([`PacketState::resync`]).
    pub fn grow(&mut self, front: usize, back: usize) {
        self.buf.splice(0..0, std::iter::repeat_n(0, front));
        self.buf.resize(self.buf.len() + back, 0);
        self.dirty = self.dirty.start + front..self.dirty.end + front;
        self.moved = true;
        self.as_saved = false;
        self.meta += front;
        self.data += front;
        self.end += front;
    }

    /// The real context, as the type it was created with.
    #[inline]
    pub fn context_mut<T: Context>(&mut self) -> Option<&mut T> {
        self.ctx.as_any_mut().downcast_mut::<T>()
    }

    /// The context's region (what `r1` points to at entry), then the read-only region
    /// of the struct's tail ([`Context::read_only_tail`]).
    fn context_regions(&mut self) -> (Region, Region) {
        let ctx: &mut dyn Context = &mut *self.ctx;
        let start = ctx as *mut dyn Context as *mut u8 as u64;
        let len = std::mem::size_of_val(ctx) as u64;
        let tail = ctx.read_only_tail() as u64;
        (
            Region {
                start,
                len: len - tail,
                writable: true,
            },
            Region {
                start: start + len - tail,
                len: tail,
                writable: false,
            },
        )
    }

    /// The packet's region: `[data_meta, data_end)`.
    #[inline]
    fn packet_region(&mut self) -> Region {
        Region {
            start: self.buf.as_mut_ptr() as u64 + self.meta as u64,
            len: (self.end - self.meta) as u64,
            writable: true,
        }
    }

    /// What legacy packet loads read: `[data, data_end)`, for the program types that
    /// have them.
    #[inline]
    pub fn legacy_packet(&mut self) -> Option<Region> {
        self.legacy_loads.then(|| Region {
            start: self.buf.as_mut_ptr() as u64 + self.data as u64,
            len: (self.end - self.data) as u64,
            writable: false,
        })
    }

    /// A legacy packet load (`LD_ABS`/`LD_IND`) at a negative `offset`: big-endian `size`
    /// bytes (1, 2 or 4) relative to the network header for offsets from
    /// [`SKF_NET_OFF`], to the MAC header for offsets from [`SKF_LL_OFF`], as the
    /// kernel's skb load helpers convert them (`bpf_skb_load_helper_convert_offset`).
    /// `None`, which ends the program with 0, for a type without these loads or without
    /// the header, an offset below `SKF_LL_OFF`, or bytes past the packet's end (bytes in
    /// front of the packet's start are read: a socket filter reads the MAC header so).
    pub fn legacy_load_negative(&self, offset: i32, size: usize) -> Option<u64> {
        if !self.legacy_loads {
            return None;
        }
        let headers = self.ctx.headers()?;
        let (header, base) = if offset >= SKF_NET_OFF {
            (headers.network, SKF_NET_OFF)
        } else if offset >= SKF_LL_OFF {
            (headers.mac?, SKF_LL_OFF)
        } else {
            return None;
        };
        // Both terms are below 2^32, so the sum does not overflow.
        let at = header.checked_add((offset - base) as usize)?;
        if at.checked_add(size)? > self.end {
            return None;
        }
        let bytes = self.buf.get(at..at + size)?;
        Some(bytes.iter().fold(0, |v, &b| (v << 8) | u64::from(b)))
    }

    /// Writes the bounds into the context's pointer fields and gives `memory` the packet
    /// and the context, in that order (the packet is the region programs touch most, and
    /// the engines check the first region first), then the context's read-only tail if it
    /// has one. Returns the context's address. Once for a memory kept for every run on
    /// this state: [`PacketState::resync`] then keeps the packet region in it up to date
    /// with each packet laid out and each helper's change.
    pub(crate) fn install(&mut self, memory: &mut Memory<'_>) -> u64 {
        let packet = self.sync_context();
        self.moved = false;
        let (ctx, tail) = self.context_regions();
        // SAFETY: the regions lie inside allocations this state owns (the buffer, the
        // boxed context); the caller borrows the state for at least as long as `memory`
        // is used, and nothing else touches them while a program runs.
        unsafe {
            memory.add_raw(packet);
            memory.add_raw(ctx);
            if tail.len != 0 {
                memory.add_raw(tail);
            }
        }
        self.installed = Some(packet);
        ctx.start
    }

    /// If the bounds or the buffer moved since the last time (a helper call, or a new
    /// packet laid out): rewrites the context's pointer fields and replaces the packet
    /// region in `memory`. The engines call it after every helper call (then refresh
    /// their copies of the regions and of the legacy packet), a packet program before
    /// every run; a helper that reads the context after moving the packet calls it itself.
    #[inline]
    pub fn resync(&mut self, memory: &mut Memory<'_>) {
        if !self.moved {
            return;
        }
        self.moved = false;
        let packet = self.sync_context();
        match self.installed {
            // A packet of the length of the last laid out where it was: same region.
            Some(old) if old == packet => {}
            Some(old) => {
                self.installed = Some(packet);
                // SAFETY: as in `install`: the new region lies inside the buffer this
                // state owns, borrowed for the run.
                let replaced = unsafe { memory.replace(old, packet) };
                debug_assert!(replaced, "the memory holds the packet region installed");
            }
            None => {}
        }
    }

    /// Stores the bounds in the context and returns the packet region.
    #[inline]
    fn sync_context(&mut self) -> Region {
        let packet = self.packet_region();
        let base = packet.start - self.meta as u64;
        self.ctx.set_bounds(Bounds {
            meta: packet.start,
            data: base + self.data as u64,
            data_end: base + self.end as u64,
        });
        packet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Default)]
    #[repr(C)]
    struct Ctx {
        bounds: [u64; 3],
    }

    impl Context for Ctx {
        fn set_bounds(&mut self, b: Bounds) {
            self.bounds = [b.meta, b.data, b.data_end];
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }

    #[test]
    fn resync_moves_the_region_and_the_pointers() {
        let mut state = PacketState::new::<Ctx>(true);
        state.load(8, &[1, 2, 3, 4], 16);
        let mut memory = Memory::new();
        let ctx_addr = state.install(&mut memory);
        let base = state.buffer().as_ptr() as u64;
        let regions: Vec<Region> = memory.regions().copied().collect();
        assert_eq!(regions[0].start, base + 8);
        assert_eq!(regions[0].len, 4);
        assert_eq!(regions[1].start, ctx_addr);
        assert_eq!(regions[1].len, 24);
        // Two bytes of head pulled in, one byte of metadata before them.
        assert!(state.set_bounds(5, 6, 12));
        state.resync(&mut memory);
        let first = *memory.regions().next().unwrap();
        assert_eq!((first.start, first.len), (base + 5, 7));
        assert_eq!(
            state.context_mut::<Ctx>().unwrap().bounds,
            [base + 5, base + 6, base + 12]
        );
        assert_eq!(state.legacy_packet().unwrap().len, 6);
        assert!(!state.set_bounds(6, 5, 12));
        assert!(!state.set_bounds(0, 0, 17));
    }

    #[test]
    fn a_new_packet_finds_the_buffer_zeroed() {
        let mut state = PacketState::new::<Ctx>(false);
        state.load(4, &[1, 2, 3], 16);
        // Writes inside moved bounds and through the whole buffer.
        assert!(state.set_bounds(2, 2, 12));
        state.packet_mut().fill(9);
        state.copy_within(2..4, 13);
        state.load(4, &[7], 16);
        let mut expected = [0u8; 16];
        expected[4] = 7;
        assert_eq!(state.buffer(), expected);
        state.buffer_mut()[15] = 1;
        state.load(0, &[], 16);
        assert_eq!(state.buffer(), [0; 16]);
    }

    /// After each kind of run, `relay` lays the saved packet out as it was: its bytes in
    /// an otherwise zeroed buffer, its bounds, its context (with pointers to where the
    /// buffer is now) and its region in the memory.
    #[test]
    fn relay_lays_out_the_saved_packet_whatever_the_run_did() {
        let data = [1u8, 2, 3, 4];
        let mut state = PacketState::new::<Ctx>(false);
        let mut memory = Memory::new();
        state.install(&mut memory);
        state.load(8, &data, 32);
        state.resync(&mut memory);
        state.save_layout();
        let check = |state: &mut PacketState, memory: &mut Memory<'_>, what: &str| {
            state.resync(memory);
            let mut expected = [0u8; 32];
            expected[8..12].copy_from_slice(&data);
            assert_eq!(state.buffer(), expected, "{what}");
            assert_eq!((state.meta(), state.data(), state.data_end()), (8, 8, 12));
            let base = state.buffer().as_ptr() as u64;
            let ctx = state.context_mut::<Ctx>().unwrap().bounds;
            assert_eq!(ctx, [base + 8, base + 8, base + 12], "{what}");
            let first = *memory.regions().next().unwrap();
            assert_eq!((first.start, first.len), (base + 8, 4), "{what}");
        };
        // The program wrote its packet and its context.
        state.packet_mut().fill(0xff);
        state.context_mut::<Ctx>().unwrap().bounds = [1, 2, 3];
        state.relay(&data);
        check(&mut state, &mut memory, "packet and context written");
        // A helper moved the start into the headroom, which the program wrote.
        assert!(state.set_bounds(5, 6, 12));
        state.resync(&mut memory);
        state.packet_mut().fill(7);
        state.buffer_mut()[5] = 7;
        state.relay(&data);
        check(&mut state, &mut memory, "bounds moved");
        // The packet as saved again, written again.
        state.packet_mut().fill(0xfe);
        state.relay(&data);
        check(&mut state, &mut memory, "written after a moved run");
        // A helper grew the buffer (which may move it) and wrote in front.
        state.grow(16, 16);
        state.resync(&mut memory);
        state.buffer_mut()[0] = 5;
        state.relay(&data);
        check(&mut state, &mut memory, "buffer grown");
        state.packet_mut().fill(0xfd);
        state.relay(&data);
        check(&mut state, &mut memory, "written after a grown run");
    }

    #[test]
    fn copy_packet_copies_every_length() {
        for n in [0, 5, 15, 16, 17, 31, 32, 64, 100] {
            let from: Vec<u8> = (1..=n as u8).collect();
            let mut to = vec![0u8; n];
            copy_packet(&mut to, &from);
            assert_eq!(to, from, "{n} bytes");
        }
    }

    #[test]
    fn grow_keeps_the_bytes() {
        let mut state = PacketState::new::<Ctx>(false);
        state.load(2, &[7, 8], 4);
        state.grow(3, 5);
        assert_eq!(state.buffer().len(), 12);
        assert_eq!(state.packet(), &[7, 8]);
        assert_eq!(state.data(), 5);
        assert!(state.legacy_packet().is_none());
    }
}
