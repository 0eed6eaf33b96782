//! Progress of `start`/`stop` on stderr: a spinner line per VM on a terminal, plain lines
//! otherwise, nothing under `--json` or `-q`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::lifecycle::events::{Event, Observer, Stage};

enum Mode {
    Hidden,
    Lines,
    Spinners(MultiProgress),
}

pub struct Progress {
    mode: Mode,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// Stages under way per VM, oldest first: `login` and `ssh` run side by side, and a
    /// spinner names the oldest one still waiting.
    pending: Mutex<HashMap<String, Vec<Stage>>>,
}

impl Progress {
    pub fn new(hidden: bool) -> Self {
        let mode = if hidden {
            Mode::Hidden
        } else if std::io::stderr().is_terminal() {
            Mode::Spinners(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Mode::Lines
        };
        Progress {
            mode,
            bars: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Prints a finished VM's line (above any spinners; none when empty, e.g. for a failure
    /// reported separately) and removes its spinner.
    pub fn finish(&self, vm: &str, line: &str) {
        self.pending.lock().unwrap().remove(vm);
        if let Some(bar) = self.bars.lock().unwrap().remove(vm) {
            bar.finish_and_clear();
        }
        if !line.is_empty() {
            self.println(line);
        }
    }

    pub fn println(&self, line: &str) {
        match &self.mode {
            Mode::Hidden => {}
            Mode::Lines => {
                let _ = writeln!(anstream::stderr(), "{line}");
            }
            Mode::Spinners(multi) => {
                let _ = multi.println(line);
            }
        }
    }

    fn set_status(&self, vm: &str, text: &str) {
        match &self.mode {
            Mode::Hidden => {}
            Mode::Lines => self.println(&format!("{vm}: {text}")),
            Mode::Spinners(multi) => {
                let mut bars = self.bars.lock().unwrap();
                let bar = bars.entry(vm.to_string()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
                            .expect("valid template"),
                    );
                    bar.set_prefix(vm.to_string());
                    // Redraw cadence of the spinner only; nothing waits on it.
                    bar.enable_steady_tick(Duration::from_millis(100));
                    bar
                });
                bar.set_message(text.to_string());
            }
        }
    }
}

impl crate::images::BuildObserver for Progress {
    fn stage(&self, image: &str, text: &str) {
        self.set_status(&format!("image {image}"), text);
    }
}

impl Progress {
    /// Updates the stages under way of `vm`; returns the oldest one left.
    fn track(&self, vm: &str, change: impl FnOnce(&mut Vec<Stage>)) -> Option<Stage> {
        let mut pending = self.pending.lock().unwrap();
        let stages = pending.entry(vm.to_string()).or_default();
        change(stages);
        stages.first().copied()
    }
}

impl Observer for Progress {
    fn event(&self, vm: &str, event: Event) {
        match event {
            Event::Stage(stage) => {
                let oldest = self.track(vm, |stages| stages.push(stage));
                match self.mode {
                    Mode::Lines => self.set_status(vm, stage.waiting_text()),
                    _ => self.set_status(vm, oldest.unwrap_or(stage).waiting_text()),
                }
            }
            Event::StageDone { stage, took } => {
                let oldest = self.track(vm, |stages| stages.retain(|s| *s != stage));
                match (&self.mode, oldest) {
                    (Mode::Lines, _) => self.println(&format!(
                        "{vm}: {} done in {:.1} s",
                        stage.as_str(),
                        took.as_secs_f64()
                    )),
                    (Mode::Spinners(_), Some(next)) => self.set_status(vm, next.waiting_text()),
                    _ => {}
                }
            }
            Event::Notice(text) => self.println(&format!("{vm}: {text}")),
        }
    }
}
