//! The loop every batching consumer of a lossless subscription runs (store
//! ingester, intel, ATT&CK tagger): take a batch, hand it over, and on a
//! stop request (or the bus closing) keep draining what is queued without
//! waiting, then say so; plus the retry those consumers put around a
//! failing store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::{Envelope, Subscription};

/// What [`BatchLoop::next_or`] came back with.
#[derive(Debug)]
pub enum Step<T> {
    /// Messages to process (never empty).
    Batch(Vec<Arc<Envelope>>),
    /// The extra future given to [`BatchLoop::next_or`] finished first;
    /// what a batch had taken by then comes with the next call.
    Woken(T),
    /// Stopping and nothing is left queued: the consumer ends.
    Drained,
}

/// A lossless subscription read in batches until a stop request.
#[derive(Debug)]
pub struct BatchLoop {
    sub: Subscription,
    stop: watch::Receiver<bool>,
    size: usize,
    wait: Duration,
    held: Vec<Arc<Envelope>>,
    stopping: bool,
}

impl BatchLoop {
    /// Batches of at most `size` messages, waiting at most `wait` to fill
    /// one after its first message; a change on `stop` (or its sender
    /// dropped) starts the final drain.
    pub fn new(
        sub: Subscription,
        stop: watch::Receiver<bool>,
        size: usize,
        wait: Duration,
    ) -> BatchLoop {
        let size = size.max(1);
        BatchLoop {
            sub,
            stop,
            size,
            wait,
            held: Vec::with_capacity(size),
            stopping: false,
        }
    }

    /// True once a stop was asked for or the bus closed: batches from now
    /// on are the final drain, and whatever retries them should give up
    /// rather than hold shutdown.
    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// Messages still queued on the subscription.
    pub fn backlog(&self) -> usize {
        self.sub.backlog()
    }

    /// Messages a lossy subscription dropped because the consumer fell
    /// behind (always 0 for a lossless one).
    pub fn dropped(&self) -> u64 {
        self.sub.dropped()
    }

    /// The next batch, or [`Step::Drained`] once stopping with nothing left.
    pub async fn next(&mut self) -> Step<()> {
        self.next_or(std::future::pending()).await
    }

    /// Like [`next`](Self::next), but also returns when `wake` finishes
    /// first (a periodic task the consumer runs between batches).
    pub async fn next_or<F: Future>(&mut self, wake: F) -> Step<F::Output> {
        let mut envs = std::mem::take(&mut self.held);
        if !envs.is_empty() {
            return Step::Batch(envs);
        }
        tokio::pin!(wake);
        loop {
            if self.stopping {
                // Drain without waiting: the producers are gone.
                while envs.len() < self.size {
                    match self.sub.try_recv() {
                        Some(e) => envs.push(e),
                        None => break,
                    }
                }
                return if envs.is_empty() {
                    Step::Drained
                } else {
                    Step::Batch(envs)
                };
            }
            // What a batch took before a stop or a wake stays in `envs`
            // (the subscription leaves it there) and is handed over.
            tokio::select! {
                got = self.sub.next_batch(self.size, self.wait, &mut envs) => {
                    if !got {
                        self.stopping = true;
                        continue;
                    }
                }
                _ = self.stop.changed() => {
                    self.stopping = true;
                    if envs.is_empty() {
                        continue;
                    }
                }
                woken = &mut wake => {
                    self.held = envs;
                    return Step::Woken(woken);
                }
            }
            return Step::Batch(envs);
        }
    }
}

/// How a consumer retries a failing store call: forever while running (the
/// store comes back), a bounded number of times once stopping (shutdown
/// must not hang), never for errors retrying cannot fix.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Who retries, for the log lines (`intel`, `attack tagging`).
    pub consumer: &'static str,
    /// Tries once stopping before the error is returned.
    pub attempts_when_stopping: u32,
}

impl Retry {
    /// Retries of `consumer`, 20 tries once stopping.
    pub const fn new(consumer: &'static str) -> Retry {
        Retry {
            consumer,
            attempts_when_stopping: 20,
        }
    }

    /// Runs `f` until it succeeds, backing off from 50 ms to 5 s; an error
    /// `fatal` accepts is returned at once.
    pub async fn run<T, E, F, Fut>(
        &self,
        what: &str,
        stopping: bool,
        fatal: impl Fn(&E) -> bool,
        mut f: F,
    ) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let consumer = self.consumer;
        let mut backoff = Duration::from_millis(50);
        let mut attempts = 0;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if fatal(&e) => {
                    tracing::warn!(error = %e, "{consumer}: {what} refused; stopping");
                    return Err(e);
                }
                Err(e) => {
                    attempts += 1;
                    tracing::warn!(error = %e, attempts, "{consumer}: {what} failed; retrying");
                    if stopping && attempts >= self.attempts_when_stopping {
                        return Err(e);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bus, Delivery, MemoryBus};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn env(i: u32) -> Envelope {
        Envelope::json("events.x", "t", serde_json::json!({ "i": i }))
    }

    /// A bus and a loop over its `events.>` with its stop sender.
    fn looped(size: usize, wait: Duration) -> (Arc<MemoryBus>, BatchLoop, watch::Sender<bool>) {
        let bus = MemoryBus::new();
        let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
        let (stop, stop_rx) = watch::channel(false);
        (bus, BatchLoop::new(sub, stop_rx, size, wait), stop)
    }

    #[tokio::test]
    async fn batches_then_drains_what_is_queued_after_a_stop() {
        let (bus, mut lp, stop) = looped(3, Duration::from_millis(20));
        for i in 0..4 {
            bus.publish(env(i));
        }
        let Step::Batch(b) = lp.next().await else {
            panic!("a batch")
        };
        assert_eq!(b.len(), 3);
        assert!(!lp.stopping());
        bus.publish(env(4));
        stop.send(true).unwrap();
        // Stop requested: the two queued come out without waiting.
        let mut rest = 0;
        loop {
            match lp.next().await {
                Step::Batch(b) => rest += b.len(),
                Step::Drained => break,
                Step::Woken(()) => unreachable!(),
            }
        }
        assert_eq!(rest, 2);
        assert!(lp.stopping());
    }

    #[tokio::test]
    async fn a_wake_keeps_what_the_batch_had_taken() {
        // A long fill wait: the wake comes while the batch is half full.
        let (bus, mut lp, _stop) = looped(10, Duration::from_secs(5));
        bus.publish(env(0));
        let woke = lp
            .next_or(tokio::time::sleep(Duration::from_millis(30)))
            .await;
        assert!(matches!(woke, Step::Woken(())));
        match lp.next().await {
            Step::Batch(b) => assert_eq!(b.len(), 1),
            other => panic!("expected the held batch, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_dropped_stop_sender_ends_the_loop() {
        let (_bus, mut lp, stop) = looped(10, Duration::from_millis(5));
        drop(stop);
        assert!(matches!(lp.next().await, Step::Drained));
    }

    #[tokio::test]
    async fn retry_gives_up_when_stopping_and_at_once_when_fatal() {
        let calls = AtomicU32::new(0);
        let r = Retry {
            consumer: "test",
            attempts_when_stopping: 2,
        };
        let out: Result<(), String> = r
            .run(
                "write",
                true,
                |_| false,
                || async {
                    calls.fetch_add(1, Ordering::Relaxed);
                    Err("down".to_owned())
                },
            )
            .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        calls.store(0, Ordering::Relaxed);
        let out: Result<(), String> = r
            .run(
                "write",
                false,
                |e: &String| e == "fenced",
                || async {
                    calls.fetch_add(1, Ordering::Relaxed);
                    Err("fenced".to_owned())
                },
            )
            .await;
        assert_eq!(out.unwrap_err(), "fenced");
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        let mut n = 0;
        let ok: Result<u32, String> = r
            .run(
                "write",
                false,
                |_| false,
                || {
                    n += 1;
                    let v = n;
                    async move {
                        if v < 3 {
                            Err("again".to_owned())
                        } else {
                            Ok(v)
                        }
                    }
                },
            )
            .await;
        assert_eq!(ok.unwrap(), 3);
    }
}
