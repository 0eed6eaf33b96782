//! Where a state machine that acts on time reads the time: the system's monotonic clock in
//! the product, a clock the test moves by hand in unit tests, so they check timing rules
//! without waiting for them in real time.

use std::time::Instant;

pub trait Clock {
    fn now(&self) -> Instant;
}

/// The monotonic system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until moved; clones share one time.
#[cfg(test)]
#[derive(Debug, Clone)]
pub struct ManualClock(std::rc::Rc<std::cell::Cell<Instant>>);

#[cfg(test)]
impl Default for ManualClock {
    fn default() -> Self {
        ManualClock(std::rc::Rc::new(std::cell::Cell::new(Instant::now())))
    }
}

#[cfg(test)]
impl ManualClock {
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Moves the time on to `at` (never back).
    pub fn advance_to(&self, at: Instant) {
        self.0.set(self.0.get().max(at));
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.0.get()
    }
}
