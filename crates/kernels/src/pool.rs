//! A persistent thread pool.
//!
//! Protocol: `state` packs (generation << 32 | n_tasks << 16 | next_task). `run` publishes a job
//! by storing a new generation; workers and the caller claim task indices with a CAS that also
//! checks the generation, so a worker waking up late can never claim (or run) a task of a job
//! that has finished. The caller waits only until every *task* has completed — not for workers
//! to check in — so a descheduled worker costs nothing unless it holds a task. Workers spin
//! briefly between jobs (a forward pass issues many small jobs back to back), then sleep.

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Spin iterations (`pause`) before sleeping: roughly 50-200 µs depending on the CPU.
const SPIN_ITERS: u32 = 2_000;
/// Largest task count one `state` word can describe; bigger `run`s are issued in rounds.
const MAX_TASKS: usize = u16::MAX as usize;

/// A job: f(task index, thread index).
type Job = *const (dyn Fn(usize, usize) + Sync);

struct Shared {
    /// generation << 32 | n_tasks << 16 | next_task
    state: AtomicU64,
    /// The current job. Written by `run` only while no task of any job is claimable; read by
    /// a worker only after it claimed a task of the current generation (which keeps the caller,
    /// and so the job, alive until that task completes).
    job: UnsafeCell<Option<Job>>,
    completed: AtomicUsize,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    /// Workers sleeping (or about to) on `wake`.
    sleepers: AtomicUsize,
    /// The caller sleeps on `done`.
    caller_sleeping: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
    done: Condvar,
}

// SAFETY: `job` is accessed under the protocol described on the field; everything else is
// atomics and std sync primitives.
unsafe impl Sync for Shared {}
// SAFETY: as above (the raw job pointer is only dereferenced under that protocol).
unsafe impl Send for Shared {}

/// Persistent worker threads. `run` executes `f(0..n_tasks)` on the workers and the calling
/// thread, returning when all tasks are done. Task order and thread assignment are unspecified:
/// tasks must write disjoint outputs.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    n_threads: usize,
    /// Serializes concurrent `run` calls from different threads.
    run_lock: Mutex<u32>,
}

impl ThreadPool {
    /// A pool of `n_threads` threads in total, the caller included (so `n_threads - 1` workers
    /// are spawned). `0` means one thread per available core.
    pub fn new(n_threads: usize) -> Self {
        let n_threads = if n_threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            n_threads
        };
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            completed: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            caller_sleeping: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            done: Condvar::new(),
        });
        let workers = (1..n_threads)
            .map(|i| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("ggufembed-worker-{i}"))
                    .spawn(move || worker_loop(&s, i))
                    .expect("failed to spawn a kernels worker thread")
            })
            .collect();
        ThreadPool {
            shared,
            workers,
            n_threads,
            run_lock: Mutex::new(0),
        }
    }

    /// Threads that execute tasks (workers + the caller).
    pub fn n_threads(&self) -> usize {
        self.n_threads
    }

    /// Run `f(i)` for every `i in 0..n_tasks`; the caller participates. Returns when all are
    /// done. If a task panics, the panic is re-raised here after all tasks finished.
    pub fn run(&self, n_tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        self.run_on_threads(n_tasks, &|i, _| f(i));
    }

    /// Like [`run`](Self::run), but `f(task, thread)` also gets the index (< `n_threads()`) of
    /// the thread running it, for per-thread scratch. Tasks are handed out dynamically.
    pub(crate) fn run_on_threads(&self, n_tasks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        if self.workers.is_empty() || n_tasks <= 1 {
            (0..n_tasks).for_each(|i| f(i, 0));
            return;
        }
        let mut start = 0;
        while start < n_tasks {
            let n = (n_tasks - start).min(MAX_TASKS);
            if start == 0 && n == n_tasks {
                self.run_round(n, f);
            } else {
                self.run_round(n, &|i, th| f(start + i, th));
            }
            start += n;
        }
    }

    fn run_round(&self, n_tasks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        let mut gen = self.run_lock.lock().unwrap_or_else(|e| e.into_inner());
        let s = &*self.shared;
        *gen = gen.wrapping_add(1);
        // SAFETY: erasing the lifetime is sound because we do not return before every claimed
        // task has completed, and no task can be claimed after that (all indices are taken).
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize, usize) + Sync), Job>(f) };
        // SAFETY: no task of any earlier job is claimable or running (we waited for them), so
        // no worker reads `job` now (see the field's protocol); `run_lock` excludes other callers.
        unsafe { *s.job.get() = Some(job) };
        s.completed.store(0, Relaxed);
        s.panicked.store(false, Relaxed);
        s.state
            .store(((*gen as u64) << 32) | ((n_tasks as u64) << 16), SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| {
            while let Some(i) = claim(s, *gen) {
                f(i, 0);
                s.completed.fetch_add(1, SeqCst);
            }
        }));
        if mine.is_err() {
            // The panicking task still counts as done; keep claiming nothing more.
            s.completed.fetch_add(1, SeqCst);
            s.panicked.store(true, Relaxed);
            while claim(s, *gen).is_some() {
                s.completed.fetch_add(1, SeqCst);
            }
        }
        let mut spins = 0u32;
        while s.completed.load(SeqCst) != n_tasks {
            if spins < SPIN_ITERS * 4 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                let g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                s.caller_sleeping.store(true, SeqCst);
                let _g = s
                    .done
                    .wait_while(g, |_| s.completed.load(SeqCst) != n_tasks)
                    .unwrap_or_else(|e| e.into_inner());
                s.caller_sleeping.store(false, SeqCst);
            }
        }
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        if s.panicked.load(Relaxed) {
            panic!("a kernels worker task panicked");
        }
    }
}

/// Claim the next task index of generation `gen`, if any is left.
#[inline]
fn claim(s: &Shared, gen: u32) -> Option<usize> {
    let mut cur = s.state.load(Acquire);
    loop {
        let (g, n, next) = ((cur >> 32) as u32, (cur >> 16) & 0xffff, cur & 0xffff);
        if g != gen || next >= n {
            return None;
        }
        match s.state.compare_exchange_weak(cur, cur + 1, AcqRel, Acquire) {
            Ok(_) => return Some(next as usize),
            Err(now) => cur = now,
        }
    }
}

fn worker_loop(s: &Shared, thread: usize) {
    let mut seen = 0u32;
    loop {
        // Wait for a new generation: spin, then sleep.
        let mut spins = 0u32;
        let gen = loop {
            if s.shutdown.load(Acquire) {
                return;
            }
            let g = (s.state.load(Acquire) >> 32) as u32;
            if g != seen {
                break g;
            }
            if spins < SPIN_ITERS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                let g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                s.sleepers.fetch_add(1, SeqCst);
                let _g = s
                    .wake
                    .wait_while(g, |_| {
                        (s.state.load(SeqCst) >> 32) as u32 == seen && !s.shutdown.load(SeqCst)
                    })
                    .unwrap_or_else(|e| e.into_inner());
                s.sleepers.fetch_sub(1, SeqCst);
                spins = 0;
            }
        };
        seen = gen;
        while let Some(i) = claim(s, gen) {
            // SAFETY: we hold an unfinished task of generation `gen`, so its caller is still in
            // `run_round` and the job it stored is alive and unchanged.
            let f = unsafe { (*s.job.get()).expect("job set before its generation is published") };
            // SAFETY: as above.
            let f = unsafe { &*f };
            if catch_unwind(AssertUnwindSafe(|| f(i, thread))).is_err() {
                s.panicked.store(true, Relaxed);
            }
            if s.completed.fetch_add(1, SeqCst) + 1
                == ((s.state.load(SeqCst) >> 16) & 0xffff) as usize
                && s.caller_sleeping.load(SeqCst)
            {
                let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                s.done.notify_all();
            }
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.shutdown.store(true, SeqCst);
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("n_threads", &self.n_threads)
            .finish()
    }
}

/// Shares a raw output pointer with pool tasks that write disjoint parts of it.
pub(crate) struct SyncPtr<T>(pub *mut T);
// Manual impls: a derive would require `T: Copy`, but copying the pointer never copies a T.
impl<T> Clone for SyncPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SyncPtr<T> {}
// SAFETY: users only write disjoint elements from different tasks (documented at each use).
unsafe impl<T> Send for SyncPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SyncPtr<T> {}

impl<T> SyncPtr<T> {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    #[inline]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn runs_every_task_once() {
        for threads in [1, 2, 3, 5] {
            let pool = ThreadPool::new(threads);
            assert_eq!(pool.n_threads(), threads);
            for n in [0, 1, 2, 7, 100] {
                let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
                pool.run(n, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
        }
    }

    #[test]
    fn many_back_to_back_jobs_and_sleep_wakeup() {
        let pool = ThreadPool::new(3);
        let total = AtomicUsize::new(0);
        for round in 0..2000 {
            pool.run(4, &|i| {
                total.fetch_add(i + 1, Ordering::Relaxed);
            });
            if round % 500 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(20)); // workers go to sleep
            }
        }
        assert_eq!(total.load(Ordering::Relaxed), 2000 * 10);
    }

    #[test]
    fn task_panic_propagates_and_pool_survives() {
        let pool = ThreadPool::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(8, &|i| {
                if i == 5 {
                    panic!("boom");
                }
            })
        }));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        pool.run(8, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 8);
    }

    #[test]
    fn thread_indices_are_in_range_and_exclusive() {
        let pool = ThreadPool::new(3);
        let busy: Vec<AtomicU32> = (0..3).map(|_| AtomicU32::new(0)).collect();
        let n = AtomicUsize::new(0);
        pool.run_on_threads(300, &|_, th| {
            assert!(th < 3);
            // no two tasks run on the same thread index at once
            assert_eq!(busy[th].fetch_add(1, Ordering::SeqCst), 0);
            std::hint::black_box((0..100).sum::<u64>());
            busy[th].fetch_sub(1, Ordering::SeqCst);
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 300);
    }

    #[test]
    fn more_tasks_than_one_round() {
        let pool = ThreadPool::new(2);
        let n = MAX_TASKS * 2 + 17;
        let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
        pool.run(n, &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn zero_means_all_cores() {
        assert!(ThreadPool::new(0).n_threads() >= 1);
    }
}
