//! Progress on stderr while the engine works, hidden when stderr is not a
//! terminal so that logs and pipes stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

const REDRAW: Duration = Duration::from_millis(100);

/// Runs `work` on a worker thread and spins on this one until it is done.
/// The worker wakes this thread when it finishes, so no time is lost waiting.
pub fn with_spinner<T: Send>(message: &'static str, work: impl FnOnce() -> T + Send) -> T {
    let spinner = if std::io::stderr().is_terminal() {
        let style = ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid spinner template");
        ProgressBar::new_spinner().with_style(style).with_message(message)
    } else {
        ProgressBar::hidden()
    };
    let main = std::thread::current();
    let result = std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            let result = work();
            main.unpark();
            result
        });
        while !worker.is_finished() {
            spinner.tick();
            std::thread::park_timeout(REDRAW);
        }
        worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    spinner.finish_and_clear();
    result
}

/// A bar over jobs, fed by the engine's `progress(done, total)` callback.
/// Until the first callback the total is unknown, so it starts as a spinner.
pub fn with_bar<T>(message: &'static str, work: impl FnOnce(&mut dyn FnMut(usize, usize)) -> T) -> T {
    let bar = if std::io::stderr().is_terminal() {
        let style = ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid spinner template");
        let bar = ProgressBar::new_spinner().with_style(style).with_message(message);
        // Ticks in the background so the elapsed time moves during a long solve.
        bar.enable_steady_tick(REDRAW);
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut update = |done: usize, total: usize| {
        if total > 0 && bar.length().is_none() {
            let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed} (eta {eta})")
                .expect("valid bar template")
                .progress_chars("=> ");
            bar.set_style(style);
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let result = work(&mut update);
    bar.finish_and_clear();
    result
}
