//! "CPUs" for per-CPU maps: each thread that touches a per-CPU map gets a small index,
//! the lowest one free, returned when the thread exits; there are [`possible`] of them.
//!
//! When more threads than [`possible`] run at once, the extra ones share slots
//! (index modulo [`possible`]), like tasks sharing a CPU: their non-atomic updates of the
//! same per-CPU value may then race, as they would with preemption in the kernel; atomic
//! adds stay exact.

use std::cell::Cell;
use std::sync::{Mutex, OnceLock};

/// Number of CPU slots of every per-CPU map: the host's available parallelism, fixed for
/// the life of the process (the kernel's `num_possible_cpus()`).
pub fn possible() -> usize {
    static POSSIBLE: OnceLock<usize> = OnceLock::new();
    *POSSIBLE.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Indexes in use by live threads.
static TAKEN: Mutex<Vec<bool>> = Mutex::new(Vec::new());

/// The thread's index, given back to [`TAKEN`] when the thread ends, and its CPU index
/// (the index modulo [`possible`], kept so that a lookup divides only once per thread).
struct Slot(Cell<Option<(usize, usize)>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((i, _)) = self.0.get() {
            let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
            taken[i] = false;
        }
    }
}

thread_local! {
    static SLOT: Slot = const { Slot(Cell::new(None)) };
}

/// The calling thread's CPU index, in `0..possible()`.
pub fn current() -> usize {
    SLOT.with(|slot| match slot.0.get() {
        Some((_, cpu)) => cpu,
        None => {
            let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
            let i = match taken.iter().position(|t| !t) {
                Some(i) => i,
                None => {
                    taken.push(false);
                    taken.len() - 1
                }
            };
            taken[i] = true;
            let cpu = i % possible();
            slot.0.set(Some((i, cpu)));
            cpu
        }
    })
}
