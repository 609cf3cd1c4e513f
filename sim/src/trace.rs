//! A run's event trace: one line per thing that happened (faults, client operations, leaders
//! seen, checker verdicts), stamped with simulated time. Equal seeds give equal traces, so the
//! trace's hash is the replay check.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// The shared trace of one run; cheap to clone (all clones append to one trace).
#[derive(Clone, Debug, Default)]
pub struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    /// Appends `text` stamped with simulated time `at`.
    pub fn line_at(&self, at: Duration, text: impl AsRef<str>) {
        let ms = at.as_millis();
        self.0.borrow_mut().push(format!("{:>6}.{:03} {}", ms / 1000, ms % 1000, text.as_ref()));
    }

    /// Appends `text` stamped with the current simulated time (inside a simulated host).
    pub fn line(&self, text: impl AsRef<str>) {
        self.line_at(turmoil::sim_elapsed().unwrap_or_default(), text);
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// blake3 of every line, newline-terminated.
    pub fn hash(&self) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new();
        for line in self.0.borrow().iter() {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
        hasher.finalize()
    }
}
