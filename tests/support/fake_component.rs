//! Stands in for kube-apiserver, kubelet, etcd, ... in live-scan tests and benchmarks.
//!
//! Copied under a component's name and started with that component's real command line,
//! it ignores its arguments and sleeps until it is killed. So that nothing is orphaned it
//! also ends by itself: when the process that started it goes away, or after
//! `FAKE_COMPONENT_LIFETIME_SECS` seconds (default 300).

use std::os::unix::process::parent_id;
use std::time::{Duration, Instant};

const DEFAULT_LIFETIME_SECS: u64 = 300;
const POLL: Duration = Duration::from_millis(200);

fn main() {
    let lifetime = std::env::var("FAKE_COMPONENT_LIFETIME_SECS")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(DEFAULT_LIFETIME_SECS));
    let started = Instant::now();
    let parent = parent_id();
    while started.elapsed() < lifetime && parent_id() == parent {
        std::thread::sleep(POLL);
    }
}
