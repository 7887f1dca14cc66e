//! Independent jobs of a study on several threads.
//!
//! A study's jobs (Pareto points, uncertainty samples) share nothing but the
//! system, so a fixed number of scoped threads take them from one queue.
//! Results come back in job order whatever order they finish in, and each
//! completion is reported on the calling thread, so a progress display need
//! not be thread-safe and counts exactly.

use std::sync::Mutex;
use std::sync::mpsc;

/// Runs `work` on every item with at most `threads` threads (1: on this
/// thread, no spawning) and returns the outputs in item order. `done` is
/// called on this thread after each job, in completion order.
///
/// A panic in a job is re-raised here once the other threads have stopped.
pub fn map<I: Send, T: Send>(items: Vec<I>, threads: usize, work: &(dyn Fn(I) -> T + Sync), done: &mut dyn FnMut()) -> Vec<T> {
    let count = items.len();
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        return items
            .into_iter()
            .map(|item| {
                let output = work(item);
                done();
                output
            })
            .collect();
    }
    let queue = Mutex::new(items.into_iter().enumerate());
    let mut outputs: Vec<Option<T>> = (0..count).map(|_| None).collect();
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel();
        let mut handles = Vec::with_capacity(threads);
        for _ in 0..threads {
            let sender = sender.clone();
            let queue = &queue;
            handles.push(scope.spawn(move || {
                loop {
                    // The lock is held only to take the next job, never while solving.
                    let next = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).next();
                    let Some((index, item)) = next else { break };
                    if sender.send((index, work(item))).is_err() {
                        break;
                    }
                }
            }));
        }
        drop(sender);
        for (index, output) in receiver {
            outputs[index] = Some(output);
            done();
        }
        // The channel closes early only if a job panicked: re-raise its panic.
        for handle in handles {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    outputs.into_iter().map(|o| o.expect("every job reported before the threads ended")).collect()
}

/// The number of threads to use when the caller names none: the cores
/// this process may run on.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_keep_item_order_and_every_job_is_counted() {
        for threads in [1, 2, 3, 8] {
            let items: Vec<u64> = (0..37).collect();
            let mut completions = 0;
            // Later items finish sooner, so completion order differs from item order.
            let work = |i: u64| {
                std::thread::sleep(std::time::Duration::from_micros(50 * (37 - i)));
                i * i
            };
            let outputs = map(items, threads, &work, &mut || completions += 1);
            assert_eq!(outputs, (0..37).map(|i| i * i).collect::<Vec<_>>(), "{threads} threads");
            assert_eq!(completions, 37);
        }
    }

    #[test]
    fn no_items_is_no_work() {
        let outputs: Vec<u8> = map(Vec::<u8>::new(), 4, &|i| i, &mut || panic!("nothing finished"));
        assert!(outputs.is_empty());
    }

    #[test]
    fn jobs_run_at_the_same_time() {
        // Two jobs that each wait for the other can only finish side by side.
        let barrier = std::sync::Barrier::new(2);
        let outputs = map(
            vec![1, 2],
            2,
            &|i| {
                barrier.wait();
                i
            },
            &mut || {},
        );
        assert_eq!(outputs, vec![1, 2]);
    }

    #[test]
    #[should_panic(expected = "job 3 failed")]
    fn a_panicking_job_panics_the_caller() {
        map((0..6).collect(), 2, &|i: i32| assert!(i != 3, "job {i} failed"), &mut || {});
    }
}
