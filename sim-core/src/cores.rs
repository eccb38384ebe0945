//! Keeping a run's thread and its helpers on different CPUs.
//!
//! A run with helpers ([`crate::Ahead`], [`crate::Deferred`]) is a
//! pipeline: the helpers fill the next blocks of noise and fold the last
//! blocks of statistics while the run's thread works on the current ones.
//! It gains only while both sides run at once. A scheduler that packs
//! runnable threads onto few CPUs, as the kernels of some virtual machines
//! do so that idle virtual CPUs can sleep, often queues a helper woken for
//! its next block behind the run's own thread on one CPU; the run then
//! waits for a block the other CPU could have filled.
//!
//! A [`CoreSplit`] keeps the two sides apart for as long as it is held:
//! the thread that took it runs on the CPU it was on, and every helper
//! that thread starts runs on the other CPUs it may use. Where they run
//! does not change what is computed, only how long it takes: on a
//! two-vCPU virtual machine whose kernel packs threads, the median of 100
//! interleaved runs of one simulated day with an ntpd client went from
//! 15.9 to 12.2 ms, and its spread (quartiles 14.7-16.9 ms) narrowed to
//! 12.0-12.6 ms.
//!
//! [`pin_worker`] does the same for a pool whose workers each run whole
//! jobs, as a sweep's workers run whole simulations: with one worker for
//! each CPU, each worker gets a CPU of its own.
//!
//! A split is for a run that has the machine to itself, as helpers are:
//! runs started together each pin their thread where it is, possibly to
//! the same CPU (on two CPUs, pairs of runs started at once took a tenth
//! longer, median). Such runs are better off on one thread each, as a
//! sweep's runs are. Splitting is a Linux facility; elsewhere
//! [`CoreSplit::take`] gives `None` and threads go where the system puts
//! them.

use std::cell::Cell;
use std::marker::PhantomData;

/// While held, pins the thread that took it to the CPU it runs on and
/// sends the helpers it starts to its other CPUs; dropping it gives the
/// thread back every CPU it could run on before.
///
/// ```
/// use sim_core::CoreSplit;
///
/// // `None` with one CPU to run on, or outside Linux.
/// let split = CoreSplit::take();
/// // ... start helpers and run ...
/// drop(split);
/// ```
#[derive(Debug)]
pub struct CoreSplit {
    /// The CPUs the thread could run on before.
    original: sys::Cpus,
    /// What the thread's helpers were sent to before (none, unless split
    /// already).
    previous_helpers: Option<sys::Cpus>,
    /// Restores the thread that took it, so it stays on that thread.
    _thread: PhantomData<*const ()>,
}

thread_local! {
    /// The CPUs for helpers that this thread starts, while it holds a
    /// [`CoreSplit`].
    static HELPER_CPUS: Cell<Option<sys::Cpus>> = const { Cell::new(None) };
}

impl CoreSplit {
    /// Splits the CPUs between this thread and its helpers, if this thread
    /// may run on two or more.
    pub fn take() -> Option<Self> {
        let original = sys::allowed()?;
        let (mine, helpers) = sys::split(&original)?;
        if !sys::run_on(&mine) {
            return None;
        }
        let previous_helpers = HELPER_CPUS.replace(Some(helpers));
        Some(Self {
            original,
            previous_helpers,
            _thread: PhantomData,
        })
    }
}

impl Drop for CoreSplit {
    fn drop(&mut self) {
        HELPER_CPUS.set(self.previous_helpers);
        // Should the system refuse, the thread stays on its one CPU: slower
        // later work, no wrong result.
        sys::run_on(&self.original);
    }
}

/// Pins the calling thread, worker `index` of a pool of `workers`, to the
/// `index`-th CPU it may use, when the pool has one worker for each of
/// those CPUs (as a sweep's pool has by default); otherwise leaves it where
/// the system puts it. For pools whose workers each run whole jobs: a
/// scheduler that packs threads onto few CPUs would at times run two
/// workers on one CPU while another idles. Two such pools at once share
/// each CPU between one worker of each. Does nothing outside Linux or
/// where the system refuses.
pub fn pin_worker(index: usize, workers: usize) {
    let Some(allowed) = sys::allowed() else {
        return;
    };
    let cpus = sys::members(&allowed);
    if workers < 2 || workers != cpus.len() {
        return;
    }
    if let Some(one) = cpus.get(index).and_then(|&cpu| sys::only(cpu)) {
        sys::run_on(&one);
    }
}

/// Where a helper about to be started should run: read on the thread that
/// starts it, applied on the helper's own thread ([`Placement::apply`]).
#[derive(Clone, Copy)]
pub(crate) struct Placement(Option<sys::Cpus>);

impl Placement {
    /// The CPUs a helper started now by this thread should run on.
    pub(crate) fn for_new_helper() -> Self {
        Self(HELPER_CPUS.get())
    }

    /// Moves the calling (helper) thread there; a refusal leaves it where
    /// the system put it.
    pub(crate) fn apply(self) {
        if let Some(cpus) = self.0 {
            sys::run_on(&cpus);
        }
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    use nix::unistd::Pid;

    pub type Cpus = CpuSet;

    /// For the affinity calls, pid 0 is the calling thread.
    fn this_thread() -> Pid {
        Pid::from_raw(0)
    }

    pub fn allowed() -> Option<Cpus> {
        sched_getaffinity(this_thread()).ok()
    }

    /// The CPU this thread is on, and the other CPUs of `allowed`; `None`
    /// unless there are others.
    pub fn split(allowed: &Cpus) -> Option<(Cpus, Cpus)> {
        let here = sched_getcpu().ok()?;
        if !allowed.is_set(here).ok()? {
            return None;
        }
        let mut others = *allowed;
        others.unset(here).ok()?;
        if members(&others).is_empty() {
            return None;
        }
        Some((only(here)?, others))
    }

    pub fn run_on(cpus: &Cpus) -> bool {
        sched_setaffinity(this_thread(), cpus).is_ok()
    }

    /// The CPUs in `set`, in order.
    pub fn members(set: &Cpus) -> Vec<usize> {
        (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect()
    }

    /// The set of CPU `cpu` alone.
    pub fn only(cpu: usize) -> Option<Cpus> {
        let mut one = CpuSet::new();
        one.set(cpu).ok()?;
        Some(one)
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    /// No CPU sets here: nothing is ever split.
    #[derive(Clone, Copy, Debug)]
    pub enum Cpus {}

    pub fn allowed() -> Option<Cpus> {
        None
    }

    pub fn split(allowed: &Cpus) -> Option<(Cpus, Cpus)> {
        match *allowed {}
    }

    pub fn run_on(cpus: &Cpus) -> bool {
        match *cpus {}
    }

    pub fn members(set: &Cpus) -> Vec<usize> {
        match *set {}
    }

    pub fn only(_cpu: usize) -> Option<Cpus> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::{Ahead, Deferred, Fold, Source};

    /// Records, in each value it fills, whether its thread may run on the
    /// CPU the reader was pinned to.
    struct Where {
        reader_cpu: usize,
    }

    impl Source for Where {
        type Item = bool;
        fn fill(&mut self, out: &mut [bool]) {
            let here = sys::allowed().expect("affinity readable");
            let on_reader = here.is_set(self.reader_cpu).expect("in range");
            out.fill(on_reader);
        }
    }

    /// Counts the blocks folded on a thread that may run on `reader_cpu`.
    struct FoldedWhere {
        reader_cpu: usize,
        on_reader: usize,
    }

    impl Fold for FoldedWhere {
        type Item = u8;
        fn fold(&mut self, _block: &[u8]) {
            let here = sys::allowed().expect("affinity readable");
            self.on_reader += usize::from(here.is_set(self.reader_cpu).expect("in range"));
        }
    }

    #[test]
    fn helpers_run_off_the_pinned_cpu_and_the_thread_gets_its_cpus_back() {
        let before = sys::allowed().expect("affinity readable");
        let Some(split) = CoreSplit::take() else {
            // One CPU to run on: nothing to split, and nothing changed.
            assert_eq!(sys::allowed(), Some(before));
            return;
        };
        let pinned = sys::allowed().expect("affinity readable");
        let cpus = sys::members(&pinned);
        assert_eq!(cpus.len(), 1, "the run's thread is on one CPU: {cpus:?}");
        assert!(before.is_set(cpus[0]).expect("in range"));

        let mut helper = Ahead::inline(Where {
            reader_cpu: cpus[0],
        });
        helper.move_to_helper();
        assert!(
            !helper.next(),
            "the noise helper may not run on the run's CPU"
        );
        let mut folder = Deferred::inline(FoldedWhere {
            reader_cpu: cpus[0],
            on_reader: 0,
        });
        folder.move_to_helper();
        folder.fold(&mut vec![0; 4]);
        // The state comes back once the helper has folded the block.
        let folded = folder.state_mut();
        assert_eq!(folded.on_reader, 0, "the fold helper may not either");

        drop(split);
        assert_eq!(sys::allowed(), Some(before), "affinity restored");
        assert!(HELPER_CPUS.get().is_none());
    }

    /// The CPUs a fresh thread that ran `pin_worker(index, workers)` may
    /// run on (a fresh thread, so that no test thread stays pinned).
    fn after_pin_worker(index: usize, workers: usize) -> Vec<usize> {
        std::thread::spawn(move || {
            pin_worker(index, workers);
            sys::members(&sys::allowed().expect("affinity readable"))
        })
        .join()
        .expect("no panic")
    }

    #[test]
    fn a_pool_with_a_worker_per_cpu_has_each_on_its_own() {
        let cpus = sys::members(&sys::allowed().expect("affinity readable"));
        let n = cpus.len();
        if n < 2 {
            assert_eq!(after_pin_worker(0, 1), cpus);
            return;
        }
        for (index, &cpu) in cpus.iter().enumerate() {
            assert_eq!(after_pin_worker(index, n), vec![cpu], "worker {index}");
        }
        // Fewer or more workers than CPUs, or a lone worker: left alone.
        assert_eq!(after_pin_worker(0, n - 1), cpus);
        assert_eq!(after_pin_worker(0, n + 1), cpus);
        assert_eq!(after_pin_worker(0, 1), cpus);
    }

    #[test]
    fn a_pinned_thread_cannot_split_again() {
        let Some(split) = CoreSplit::take() else {
            return;
        };
        assert!(CoreSplit::take().is_none());
        drop(split);
    }
}
