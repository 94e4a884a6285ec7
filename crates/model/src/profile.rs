//! Where the time of a forward pass goes, op by op (`ggufembed bench --profile`).

use std::time::{Duration, Instant};

/// Wall time per op kind, summed over the layers (and forward passes), in pass order.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Tokens profiled (all inputs together).
    pub n_tokens: usize,
    /// Inputs profiled.
    pub n_inputs: usize,
    pub ops: Vec<(&'static str, Duration)>,
}

/// Laps between ops. A disabled timer (the normal case) never reads the clock or allocates.
pub(crate) struct OpTimer {
    last: Option<Instant>,
    ops: Vec<(&'static str, Duration)>,
}

impl OpTimer {
    /// A timer that records nothing.
    pub(crate) const fn off() -> OpTimer {
        OpTimer {
            last: None,
            ops: Vec::new(),
        }
    }

    /// A timer that starts now.
    pub(crate) fn on() -> OpTimer {
        OpTimer {
            last: Some(Instant::now()),
            ops: Vec::with_capacity(32),
        }
    }

    /// Charges the time since the previous lap to `op`.
    #[inline]
    pub(crate) fn lap(&mut self, op: &'static str) {
        let Some(last) = self.last else { return };
        let now = Instant::now();
        let dt = now - last;
        match self.ops.iter_mut().find(|(name, _)| *name == op) {
            Some((_, total)) => *total += dt,
            None => self.ops.push((op, dt)),
        }
        self.last = Some(now);
    }

    pub(crate) fn finish(self, n_tokens: usize, n_inputs: usize) -> Profile {
        Profile {
            n_tokens,
            n_inputs,
            ops: self.ops,
        }
    }
}
