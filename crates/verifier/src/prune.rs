//! State subsumption for pruning (`states_equal`, `regsafe`, `stacksafe`, `check_ids`): a
//! state already proven safe at an instruction covers a new one when every live register
//! and stack slot of the old state allows everything the new one can hold.

use crate::cfg::RegSet;
use crate::state::{ByteKind, RegState, RegType, StackSlot, State};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// A consistent renaming of ids from the old state to the new one: two registers sharing
/// an id in the old state must share one in the new state too (`check_ids`).
/// (A few ids are live at once: a vector beats a hash map.)
#[derive(Default)]
struct IdMap(Vec<(u32, u32)>);

impl IdMap {
    fn check(&mut self, old: u32, cur: u32) -> bool {
        if old == 0 {
            return true;
        }
        if cur == 0 {
            return false;
        }
        match self.0.iter().find(|(o, _)| *o == old) {
            Some(&(_, c)) => c == cur,
            None => {
                self.0.push((old, cur));
                true
            }
        }
    }
}

/// Whether `old` covers `cur`; with `exact`, whether they are the same on everything live
/// (the infinite-loop test). `live` holds each frame's live registers, `precise` those
/// whose numbers must be covered by range (others may hold any number).
pub fn states_equal(
    old: &State,
    cur: &State,
    live: &[RegSet],
    precise: &[RegSet],
    exact: bool,
) -> bool {
    if old.frames.len() != cur.frames.len() {
        return false;
    }
    let mut ids = IdMap::default();
    for (i, (fo, fc)) in old.frames.iter().zip(&cur.frames).enumerate() {
        if fo.callsite != fc.callsite || fo.callback != fc.callback {
            return false;
        }
        for r in 0..10 {
            if live[i] >> r & 1 == 0 {
                continue;
            }
            let (o, c) = (&fo.regs[r], &fc.regs[r]);
            let any_number = !exact
                && precise[i] >> r & 1 == 0
                && o.ty == RegType::Scalar
                && c.ty == RegType::Scalar;
            if !any_number && !regsafe(o, c, &mut ids, exact) {
                return false;
            }
        }
        let n = fo.slots.len().max(fc.slots.len());
        for s in 0..n {
            if !stacksafe(fo.slot(s), fc.slot(s), &mut ids, exact) {
                return false;
            }
        }
    }
    // The same references held, under the same renaming (`refsafe`).
    if old.refs.len() != cur.refs.len()
        || !old
            .refs
            .iter()
            .zip(&cur.refs)
            .all(|(&o, &c)| ids.check(o, c))
    {
        return false;
    }
    // The same lock held, taken through the same pointer under the renaming.
    let lock_ok = match (old.lock, cur.lock) {
        (None, None) => true,
        (Some(o), Some(c)) => o.map == c.map && (o.id == 0) == (c.id == 0) && ids.check(o.id, c.id),
        _ => false,
    };
    if !lock_ok {
        return false;
    }
    match (&old.buffer_len, &cur.buffer_len) {
        (Some(o), Some(c)) => regsafe(o, c, &mut ids, exact),
        (None, None) => true,
        _ => false,
    }
}

/// A hash of what [`states_equal`] compares exactly: equal states hash equally.
pub fn fingerprint(st: &State, live: &[RegSet]) -> u64 {
    let mut h = DefaultHasher::new();
    for (i, f) in st.frames.iter().enumerate() {
        (f.callsite, f.callback).hash(&mut h);
        for r in 0..10 {
            if live[i] >> r & 1 == 1 {
                f.regs[r].hash(&mut h);
            }
        }
        // Missing slots are empty ones: only written slots count.
        for (s, slot) in f.slots.iter().enumerate() {
            if slot.bytes != [ByteKind::Uninit; crate::state::SLOT] {
                (s, slot).hash(&mut h);
            }
        }
    }
    st.buffer_len.hash(&mut h);
    st.refs.len().hash(&mut h);
    st.lock.is_some().hash(&mut h);
    h.finish()
}

/// Whether register value `old` covers `cur` (`regsafe`).
fn regsafe(old: &RegState, cur: &RegState, ids: &mut IdMap, exact: bool) -> bool {
    if exact {
        return old == cur;
    }
    // The old path never read it (reading is an error), so its content does not matter.
    if old.ty == RegType::NotInit {
        return true;
    }
    if old.ty != cur.ty {
        return false;
    }
    let var_ok = old.var.includes(&cur.var) && ids.check(old.id, cur.id);
    match old.ty {
        RegType::NotInit => true,
        RegType::Scalar => var_ok,
        RegType::PtrToCtx | RegType::PtrToStack => {
            old.off == cur.off && old.frame == cur.frame && var_ok
        }
        RegType::ConstPtrToMap => old.map == cur.map,
        RegType::ConstPtrToMapOrNull => old.map == cur.map && ids.check(old.id, cur.id),
        RegType::MapValue | RegType::MapValueOrNull | RegType::MapKey => {
            old.map == cur.map && old.off == cur.off && var_ok
        }
        RegType::RingbufMem | RegType::RingbufMemOrNull => {
            old.range == cur.range && old.off == cur.off && var_ok
        }
        RegType::SockCommon | RegType::SockCommonOrNull => ids.check(old.id, cur.id),
        RegType::PtrToFunc => old.off == cur.off,
        // A longer proven range is fine: the old path needed no more than its own.
        RegType::PtrToPacket | RegType::PtrToPacketMeta => {
            old.off == cur.off && old.range <= cur.range && var_ok
        }
        RegType::PtrToPacketEnd => old.off == cur.off,
    }
}

/// Whether stack slot `old` covers `cur` (`stacksafe`).
fn stacksafe(old: &StackSlot, cur: &StackSlot, ids: &mut IdMap, exact: bool) -> bool {
    if exact {
        return old == cur;
    }
    // Unknown bytes cover known ones: zeros, and the bytes of a spilled number (a fill
    // gives that number where the old path had any number).
    let cur_number = cur.spilled.is_some_and(|r| r.ty == RegType::Scalar);
    for (o, c) in old.bytes.iter().zip(&cur.bytes) {
        let ok = match (o, c) {
            (ByteKind::Uninit, _) => true,
            (ByteKind::Misc, ByteKind::Misc | ByteKind::Zero) => true,
            (ByteKind::Misc, ByteKind::Spill) => cur_number,
            (o, c) => o == c,
        };
        if !ok {
            return false;
        }
    }
    match (&old.spilled, &cur.spilled) {
        (Some(o), Some(c)) => regsafe(o, c, ids, exact),
        (Some(_), None) => false,
        (None, _) => true,
    }
}
