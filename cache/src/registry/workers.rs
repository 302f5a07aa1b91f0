//! A few threads working through a list, as Docker's
//! max-concurrent-downloads: layers transfer in parallel, in bounded number,
//! and the first error stops the others from starting new items.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `f` on every item with at most `workers` threads; returns the
/// results in item order, or the first error.
pub(crate) fn map<T: Sync, R: Send, E: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(usize, &T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, Result<R, E>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() || failed.load(Ordering::Relaxed) {
                    break;
                }
                let r = f(i, &items[i]);
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_reports_the_first_error() {
        let items: Vec<u32> = (0..20).collect();
        let out: Result<Vec<u32>, String> = map(&items, 3, |_, x| Ok(x * 2));
        assert_eq!(
            out.unwrap(),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        let out: Result<Vec<u32>, String> = map(&items, 3, |i, x| {
            if i == 5 {
                Err(format!("bad {x}"))
            } else {
                Ok(*x)
            }
        });
        assert_eq!(out.unwrap_err(), "bad 5");
        let none: Result<Vec<u32>, String> = map(&[] as &[u32], 3, |_, x| Ok(*x));
        assert!(none.unwrap().is_empty());
    }
}
