//! Several VMs at once: one thread per VM (their waits are mostly idle), results in the
//! order the VMs were given, one VM's failure never stopping the others.

/// `work` applied to every item concurrently; the results in the order of `items`.
pub fn each<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    std::thread::scope(|scope| {
        let work = &work;
        let workers: Vec<_> = items
            .iter()
            .map(|item| scope.spawn(move || work(item)))
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_order_of_the_items() {
        let slow_first = [30u64, 0, 10];
        let results = super::each(&slow_first, |ms| {
            std::thread::sleep(std::time::Duration::from_millis(*ms));
            ms * 2
        });
        assert_eq!(results, [60, 0, 20]);
    }
}
