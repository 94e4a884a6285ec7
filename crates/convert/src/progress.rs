//! Progress reporting for long jobs (conversion, downloads). Library code reports through the
//! [`Progress`] trait; [`StderrProgress`] draws an indicatif bar on stderr (or, when stderr is
//! not a terminal, prints one line when a step starts and one when it ends).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

/// Receives progress of one step at a time: `start`, any number of `inc`, `finish`.
pub trait Progress: Sync {
    /// A new step of `total` units (bytes) begins.
    fn start(&self, label: &str, total: u64);
    /// `n` more units are done.
    fn inc(&self, n: u64);
    /// The current step is complete.
    fn finish(&self);
    /// A one-line note (e.g. "trying source X"); shown between bars.
    fn note(&self, _msg: &str) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

/// Progress bars on stderr.
pub struct StderrProgress {
    state: Mutex<Option<(ProgressBar, String, Instant)>>,
    tty: bool,
}

impl Default for StderrProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl StderrProgress {
    pub fn new() -> Self {
        StderrProgress {
            state: Mutex::new(None),
            tty: std::io::stderr().is_terminal(),
        }
    }
}

impl Progress for StderrProgress {
    fn start(&self, label: &str, total: u64) {
        self.finish();
        let bar = if self.tty {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{msg:<28} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_message(label.to_string());
            b
        } else {
            eprintln!("{label} ...");
            ProgressBar::hidden()
        };
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((bar, label.to_string(), Instant::now()));
    }

    fn inc(&self, n: u64) {
        if let Some((bar, _, _)) = &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        let taken = self.state.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((bar, label, t0)) = taken {
            bar.finish_and_clear();
            eprintln!("{label}: done in {:.1} s", t0.elapsed().as_secs_f64());
        }
    }

    fn note(&self, msg: &str) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &*state {
            Some((bar, _, _)) if self.tty => bar.println(msg),
            _ => eprintln!("{msg}"),
        }
    }
}
