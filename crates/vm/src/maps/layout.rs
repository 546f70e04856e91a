//! Where an element's value lives inside its slot of map memory: one value for plain
//! maps, one per CPU for per-CPU maps. Shared by every keyed map type so that the plain
//! and per-CPU variants of a map are the same code.

use super::error::MapError;
use super::spec::{round8, MapSpec};
use super::{cpu, shared, Cpus};

/// The value layout of a map's slots.
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    value_size: usize,
    /// Distance between two CPUs' values: the value size rounded up to 8, as in Linux.
    stride: usize,
    /// 1 for plain maps, [`cpu::possible`] for per-CPU maps.
    cpus: usize,
    percpu: bool,
}

impl Layout {
    pub fn new(spec: &MapSpec) -> Layout {
        let percpu = spec.map_type.is_percpu();
        Layout {
            value_size: spec.value_size as usize,
            stride: round8(spec.value_size as usize),
            cpus: if percpu { cpu::possible() } else { 1 },
            percpu,
        }
    }

    /// Bytes of one slot.
    pub fn slot_len(&self) -> usize {
        self.stride * self.cpus
    }

    /// Bytes user space reads and writes: [`MapSpec::user_value_size`].
    fn user_len(&self) -> usize {
        if self.percpu {
            self.stride * self.cpus
        } else {
            self.value_size
        }
    }

    /// Address of CPU `cpu`'s value in the slot at `slot`.
    pub fn cpu_addr(&self, slot: *mut u8, cpu: usize) -> *mut u8 {
        slot.wrapping_add((cpu % self.cpus) * self.stride)
    }

    /// Copies the slot at `slot` into `out` in the user-space layout.
    ///
    /// # Safety
    /// `slot` is the start of a live slot of map memory laid out by `self`.
    pub unsafe fn read(&self, slot: *const u8, out: &mut [u8]) -> Result<(), MapError> {
        let out = out.get_mut(..self.user_len()).ok_or(MapError::Invalid)?;
        // SAFETY: the user layout is exactly the slot's bytes (the stride padding of
        // per-CPU values included, which is zero as Linux copies it), or one value.
        unsafe { shared::read(slot, out) };
        Ok(())
    }

    /// Writes `value` into the slot at `slot`: every CPU's value from the user-space
    /// layout for [`Cpus::All`], one CPU's for [`Cpus::One`]. A `fresh` slot written for
    /// one CPU has the other CPUs' values zeroed, as Linux does for a new element.
    ///
    /// # Safety
    /// As for [`Layout::read`].
    pub unsafe fn write(
        &self,
        slot: *mut u8,
        value: &[u8],
        cpus: Cpus,
        fresh: bool,
    ) -> Result<(), MapError> {
        match cpus {
            Cpus::One(cpu) if self.percpu => {
                let value = value.get(..self.value_size).ok_or(MapError::Invalid)?;
                if fresh {
                    // SAFETY: the whole slot is live map memory.
                    unsafe { shared::zero(slot, self.slot_len()) };
                }
                // SAFETY: one CPU's value lies inside the slot, 8-aligned.
                unsafe { shared::write(self.cpu_addr(slot, cpu), value) };
            }
            _ => {
                let value = value.get(..self.user_len()).ok_or(MapError::Invalid)?;
                // SAFETY: as in `read`.
                unsafe { shared::write(slot, value) };
            }
        }
        Ok(())
    }
}
