//! The password-hashing pool: a fixed set of OS threads, started once, that
//! compute Argon2id hashes and verifications for the server.
//!
//! Jobs go through a bounded queue and each answers through its own oneshot
//! channel; the tracing span of the submitting request is entered while the
//! job runs. The threads ask the kernel for the lowest scheduling priority
//! (`SCHED_IDLE`, else nice 19) so that the async runtime's threads (TLS,
//! HTTP, database, every other request) always win the CPU over hashing:
//! under a login flood, other requests do not wait behind Argon2. (A
//! `SCHED_IDLE` thread also yields to every other normal thread of its CPU
//! cgroup or session group: a host that runs other busy work beside the
//! server in the same group slows logins, not requests.)
//!
//! Each thread keeps its Argon2 working memory between verifications (see
//! `palisade_crypto::password::HashMemory`).
//!
//! This module must not run anything but password hashing, grow without
//! bound (a full queue is an immediate [`ServerError::HashingBusy`], never a
//! wait), or block the async runtime: submitting never blocks.

use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use palisade_crypto::Keyring;
use secrecy::SecretString;
use tokio::sync::oneshot;

use crate::ServerError;

/// Queued jobs allowed per hashing thread beyond the ones running. At about
/// 20 ms a hash, a full queue is about 0.6 s of work: enough to absorb a
/// burst, small enough that a waiting login does not time out.
pub const QUEUE_PER_THREAD: usize = 32;

/// How long [`HashPool::start`] waits for its threads to report in.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The scheduling priority the pool's threads should run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// The lowest the kernel allows (`SCHED_IDLE`, else nice 19): for a
    /// server, whose async runtime must always win the CPU.
    Lowest,
    /// The priority of the thread that starts the pool: for one-shot tools,
    /// which would otherwise wait behind every other process of the host.
    Inherit,
}

/// The scheduling the pool's threads actually got (the weakest of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scheduling {
    /// `SCHED_IDLE`: runs only when no normal thread of its group wants the CPU.
    Idle,
    /// `SCHED_OTHER` at nice 19.
    Nice19,
    /// Whatever the starting thread had.
    Unchanged,
}

impl std::fmt::Display for Scheduling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scheduling::Idle => "SCHED_IDLE",
            Scheduling::Nice19 => "nice 19",
            Scheduling::Unchanged => "unchanged",
        })
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

thread_local! {
    /// Each hashing thread's Argon2 working memory, kept between checks:
    /// without it every login allocates, page-faults and zeroes 19 MiB
    /// (measured: one of two hashing threads took ~4,860 page faults per
    /// verify). Zeroized when the thread exits.
    static KEPT: std::cell::RefCell<palisade_crypto::password::HashMemory> =
        std::cell::RefCell::new(palisade_crypto::password::HashMemory::new());
}

/// A fixed pool of password-hashing threads fed through a bounded queue.
///
/// Dropping the pool stops it without waiting: a job already hashing
/// finishes (at most one hash time), queued jobs are dropped and their
/// callers get [`ServerError::HashingStopped`], then the threads exit.
pub struct HashPool {
    sender: Option<SyncSender<Job>>,
    shared: Arc<Shared>,
    threads: usize,
    queue: usize,
    scheduling: Scheduling,
}

/// State the threads share with the pool handle.
struct Shared {
    receiver: Mutex<Receiver<Job>>,
    /// Set when the pool is dropped: queued jobs are then discarded.
    stopping: AtomicBool,
    /// Jobs submitted and not yet taken by a thread.
    waiting: AtomicUsize,
    /// Threads still running.
    alive: AtomicUsize,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("threads", &self.threads)
            .field("queue", &self.queue)
            .field("scheduling", &self.scheduling)
            .finish_non_exhaustive()
    }
}

impl HashPool {
    /// The server's pool: one thread per available core, a queue of
    /// [`QUEUE_PER_THREAD`] per thread, lowest priority. Logs once what it got.
    pub fn for_server() -> Result<Self, ServerError> {
        let threads = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        let pool = Self::start(
            threads,
            threads.get().saturating_mul(QUEUE_PER_THREAD),
            Priority::Lowest,
        )?;
        if pool.scheduling == Scheduling::Idle {
            tracing::info!(
                threads = pool.threads,
                queue = pool.queue,
                "password hashing pool started at SCHED_IDLE"
            );
        } else {
            tracing::warn!(
                threads = pool.threads,
                queue = pool.queue,
                scheduling = %pool.scheduling,
                "password hashing pool could not get SCHED_IDLE; hashing competes with request handling"
            );
        }
        Ok(pool)
    }

    /// Starts `threads` hashing threads with room for `queue` waiting jobs,
    /// at `priority`. Returns once every thread has set its priority.
    pub fn start(
        threads: NonZeroUsize,
        queue: usize,
        priority: Priority,
    ) -> Result<Self, ServerError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Job>(queue);
        let shared = Arc::new(Shared {
            receiver: Mutex::new(receiver),
            stopping: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
        });
        let (report, reports) = std::sync::mpsc::channel::<Scheduling>();
        let mut pool = HashPool {
            sender: Some(sender),
            shared: Arc::clone(&shared),
            threads: threads.get(),
            queue,
            scheduling: Scheduling::Idle,
        };
        for i in 0..threads.get() {
            let shared = Arc::clone(&shared);
            let report = report.clone();
            shared.alive.fetch_add(1, Ordering::SeqCst);
            let spawned = std::thread::Builder::new()
                .name(format!("palisade-hash-{i}"))
                .spawn(move || {
                    let _ = report.send(lower_priority(priority));
                    drop(report);
                    work(&shared);
                    shared.alive.fetch_sub(1, Ordering::SeqCst);
                });
            if let Err(e) = spawned {
                pool.shared.alive.fetch_sub(1, Ordering::SeqCst);
                // Dropping `pool` stops the threads already started.
                return Err(ServerError::HashingStopped(format!(
                    "cannot start hashing thread {i}: {e}"
                )));
            }
        }
        drop(report);
        let deadline = Instant::now() + START_TIMEOUT;
        let mut weakest = Scheduling::Idle;
        for _ in 0..threads.get() {
            let left = deadline.saturating_duration_since(Instant::now());
            match reports.recv_timeout(left) {
                Ok(s) => weakest = weakest.max(s),
                Err(e) => {
                    return Err(ServerError::HashingStopped(format!(
                        "hashing threads did not start: {e}"
                    )));
                }
            }
        }
        pool.scheduling = weakest;
        Ok(pool)
    }

    /// Number of hashing threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Number of jobs that may wait beyond the ones running.
    pub fn queue(&self) -> usize {
        self.queue
    }

    /// Jobs submitted and not yet started.
    pub fn waiting(&self) -> usize {
        self.shared.waiting.load(Ordering::SeqCst)
    }

    /// The scheduling the threads got (the weakest among them).
    pub fn scheduling(&self) -> Scheduling {
        self.scheduling
    }

    /// Hashes `password` with the keyring's pepper (a new PHC string).
    pub async fn hash(
        &self,
        keyring: Arc<Keyring>,
        password: SecretString,
    ) -> Result<String, ServerError> {
        let answer = self.submit(move || {
            palisade_crypto::password::hash_password(keyring.hash_salt(), &password)
        })?;
        Ok(answered(answer).await??)
    }

    /// Checks `password` against the PHC string `stored` with the keyring's
    /// pepper. `Ok(false)` on mismatch; an error when `stored` is unreadable.
    pub async fn verify(
        &self,
        keyring: Arc<Keyring>,
        password: SecretString,
        stored: Arc<str>,
    ) -> Result<bool, ServerError> {
        let answer = self.submit(move || {
            KEPT.with_borrow_mut(|memory| {
                palisade_crypto::password::verify_password_in(
                    memory,
                    keyring.hash_salt(),
                    &password,
                    &stored,
                )
            })
        })?;
        Ok(answered(answer).await??)
    }

    /// Queues `f` for a hashing thread, to run inside the caller's tracing
    /// span and dispatcher. Never waits for room: a full queue is
    /// `HashingBusy`. Dropping the returned receiver before the job starts
    /// cancels it.
    fn submit<T, F>(&self, f: F) -> Result<oneshot::Receiver<T>, ServerError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let sender = self.sender.as_ref().ok_or_else(stopped)?;
        let (answer, receiver) = oneshot::channel::<T>();
        let span = tracing::Span::current();
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let queued = Instant::now();
        let job: Job = Box::new(move || {
            // The caller went away (request cancelled): skip the work.
            if answer.is_closed() {
                return;
            }
            tracing::dispatcher::with_default(&dispatch, || {
                span.in_scope(|| {
                    let started = Instant::now();
                    let out = f();
                    tracing::debug!(
                        queue_wait_us = micros(started.duration_since(queued)),
                        run_us = micros(started.elapsed()),
                        "password hashing job"
                    );
                    let _ = answer.send(out);
                });
            });
        });
        self.shared.waiting.fetch_add(1, Ordering::SeqCst);
        match sender.try_send(job) {
            Ok(()) => Ok(receiver),
            Err(e) => {
                self.shared.waiting.fetch_sub(1, Ordering::SeqCst);
                match e {
                    TrySendError::Full(_) => Err(ServerError::HashingBusy),
                    TrySendError::Disconnected(_) => Err(stopped()),
                }
            }
        }
    }
}

/// The answer of a submitted job; an error when the job was dropped.
async fn answered<T>(receiver: oneshot::Receiver<T>) -> Result<T, ServerError> {
    receiver
        .await
        .map_err(|_| ServerError::HashingStopped("the hashing job was dropped".into()))
}

fn stopped() -> ServerError {
    ServerError::HashingStopped("the pool is stopped".into())
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Drop for HashPool {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Closing the queue wakes idle threads; busy ones finish their job,
        // drop what is still queued, and exit.
        self.sender = None;
    }
}

/// One thread's loop: take a job, run it, until the queue closes.
fn work(shared: &Shared) {
    loop {
        let next = {
            // A poisoned lock only means another thread panicked while
            // waiting; the receiver itself is intact.
            let guard = shared
                .receiver
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            guard.recv()
        };
        let Ok(job) = next else {
            return;
        };
        shared.waiting.fetch_sub(1, Ordering::SeqCst);
        if shared.stopping.load(Ordering::SeqCst) {
            // Dropping the job drops its answer channel: the caller is told.
            drop(job);
            continue;
        }
        // A panicking job loses only its own answer, not the thread.
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

/// Lowers the calling thread's priority as asked; returns what it got.
fn lower_priority(priority: Priority) -> Scheduling {
    match priority {
        Priority::Inherit => Scheduling::Unchanged,
        Priority::Lowest => os::lowest(),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod os {
    //! Linux: `SCHED_IDLE` through `thread-priority` (no `unsafe` here).

    use super::Scheduling;
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id, thread_schedule_policy,
    };

    const IDLE: ThreadSchedulePolicy =
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    const OTHER: ThreadSchedulePolicy =
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);

    pub(super) fn lowest() -> Scheduling {
        // The call also resets the nice value, which SCHED_IDLE ignores and
        // which an unprivileged thread may not lower: judge by the policy
        // read back, not by the call's result.
        let _ = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, IDLE);
        if matches!(thread_schedule_policy(), Ok(p) if p == IDLE) {
            return Scheduling::Idle;
        }
        // Raising one's own nice value is always allowed.
        match set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, OTHER) {
            Ok(()) => Scheduling::Nice19,
            Err(_) => Scheduling::Unchanged,
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod os {
    //! Elsewhere: the lowest priority `thread-priority` offers.

    use super::Scheduling;

    pub(super) fn lowest() -> Scheduling {
        match thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min) {
            Ok(()) => Scheduling::Nice19,
            Err(_) => Scheduling::Unchanged,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn keyring() -> Arc<Keyring> {
        Arc::new(Keyring::generate().unwrap())
    }

    fn n(v: usize) -> NonZeroUsize {
        NonZeroUsize::new(v).unwrap()
    }

    /// Waits (bounded) until `cond` holds.
    async fn eventually(what: &str, cond: impl Fn() -> bool) {
        for _ in 0..1000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Occupies one thread of `pool` until the returned sender is used or
    /// dropped. Returns once the job has started.
    fn occupy(pool: &HashPool) -> (std::sync::mpsc::Sender<()>, oneshot::Receiver<()>) {
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let done = pool
            .submit(move || {
                let _ = started_tx.send(());
                let _ = gate.recv_timeout(Duration::from_secs(30));
            })
            .unwrap();
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        (release, done)
    }

    #[tokio::test]
    async fn results_equal_the_direct_computation() {
        let pool = HashPool::start(n(2), 4, Priority::Lowest).unwrap();
        let keys = keyring();
        let pw = SecretString::from("correct horse battery staple");
        let hashed = pool.hash(Arc::clone(&keys), pw.clone()).await.unwrap();
        assert!(hashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        // A hash made by the pool verifies directly, and the other way round.
        assert!(
            palisade_crypto::password::verify_password(keys.hash_salt(), &pw, &hashed).unwrap()
        );
        let direct = palisade_crypto::password::hash_password(keys.hash_salt(), &pw).unwrap();
        for (candidate, stored) in [
            ("correct horse battery staple", &hashed),
            ("correct horse battery staple", &direct),
            ("wrong", &hashed),
            ("wrong", &direct),
        ] {
            let candidate = SecretString::from(candidate);
            assert_eq!(
                pool.verify(Arc::clone(&keys), candidate.clone(), stored.as_str().into())
                    .await
                    .unwrap(),
                palisade_crypto::password::verify_password(keys.hash_salt(), &candidate, stored)
                    .unwrap()
            );
        }
        // Another installation's pepper: refused, as directly.
        assert!(
            !pool
                .verify(keyring(), pw.clone(), hashed.as_str().into())
                .await
                .unwrap()
        );
        // An unreadable stored hash is an error, as directly.
        assert!(matches!(
            pool.verify(keys, pw, "not a hash".into()).await,
            Err(ServerError::Password(_))
        ));
        assert_eq!(pool.waiting(), 0);
    }

    #[tokio::test]
    async fn each_thread_keeps_its_argon2_memory() {
        let pool = HashPool::start(n(1), 2, Priority::Inherit).unwrap();
        let keys = keyring();
        let pw = SecretString::from("correct horse battery staple");
        let stored = pool.hash(Arc::clone(&keys), pw.clone()).await.unwrap();
        assert!(pool.verify(keys, pw, stored.as_str().into()).await.unwrap());
        let kept = answered(pool.submit(|| KEPT.with_borrow(|m| m.kib())).unwrap())
            .await
            .unwrap();
        assert_eq!(kept, palisade_crypto::password::M_COST as usize);
    }

    #[tokio::test]
    async fn lowest_priority_is_what_the_threads_run_at() {
        let pool = HashPool::start(n(2), 4, Priority::Lowest).unwrap();
        // On Linux any thread may move itself to SCHED_IDLE.
        #[cfg(target_os = "linux")]
        assert_eq!(pool.scheduling(), Scheduling::Idle);
        // What a job sees of its own thread agrees with the report.
        let seen = answered(
            pool.submit(|| {
                (
                    std::thread::current().name().map(str::to_owned),
                    thread_priority::thread_schedule_policy().ok(),
                )
            })
            .unwrap(),
        )
        .await
        .unwrap();
        assert!(seen.0.unwrap().starts_with("palisade-hash-"));
        #[cfg(target_os = "linux")]
        assert_eq!(
            seen.1,
            Some(thread_priority::ThreadSchedulePolicy::Normal(
                thread_priority::NormalThreadSchedulePolicy::Idle
            ))
        );
        // A pool for one-shot tools keeps the caller's priority.
        let tool = HashPool::start(n(1), 1, Priority::Inherit).unwrap();
        assert_eq!(tool.scheduling(), Scheduling::Unchanged);
        let mine = thread_priority::thread_schedule_policy().ok();
        let theirs = answered(
            tool.submit(|| thread_priority::thread_schedule_policy().ok())
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(theirs, mine);
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let pool = HashPool::start(n(1), 2, Priority::Inherit).unwrap();
        let (release, _blocker) = occupy(&pool);
        let keys = keyring();
        let pw = SecretString::from("correct horse battery staple");
        // Two jobs fit in the queue...
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let (keys, pw) = (Arc::clone(&keys), pw.clone());
                pool.submit(move || palisade_crypto::password::hash_password(keys.hash_salt(), &pw))
                    .unwrap()
            })
            .collect();
        assert_eq!(pool.waiting(), 2);
        // ...the next one is refused immediately, without waiting for room.
        let t = Instant::now();
        let refused = pool.hash(Arc::clone(&keys), pw.clone()).await;
        assert!(
            matches!(refused, Err(ServerError::HashingBusy)),
            "{refused:?}"
        );
        let refused = pool.verify(Arc::clone(&keys), pw.clone(), "x".into()).await;
        assert!(
            matches!(refused, Err(ServerError::HashingBusy)),
            "{refused:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(1));
        assert_eq!(pool.waiting(), 2);
        // Its HTTP answer: 503 with its own code and a Retry-After.
        let resp = axum::response::IntoResponse::into_response(crate::ApiError::from(
            ServerError::HashingBusy,
        ));
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        let body: palisade_proto::ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.code, palisade_proto::codes::PASSWORD_HASHING_BUSY);
        // Once the thread is free, the queued jobs complete normally.
        release.send(()).unwrap();
        for q in queued {
            let hashed = tokio::time::timeout(Duration::from_secs(30), answered(q))
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert!(
                palisade_crypto::password::verify_password(keys.hash_salt(), &pw, &hashed).unwrap()
            );
        }
        assert_eq!(pool.waiting(), 0);
    }

    #[tokio::test]
    async fn drop_does_not_hang_and_tells_waiting_callers() {
        let pool = HashPool::start(n(2), 4, Priority::Lowest).unwrap();
        let shared = Arc::clone(&pool.shared);
        assert_eq!(shared.alive.load(Ordering::SeqCst), 2);
        // Both threads busy, one job queued behind them.
        let (release_a, running) = occupy(&pool);
        let (release_b, _other) = occupy(&pool);
        let keys = keyring();
        let queued = pool
            .submit(move || {
                palisade_crypto::password::hash_password(
                    keys.hash_salt(),
                    &SecretString::from("correct horse battery staple"),
                )
            })
            .unwrap();
        assert_eq!(pool.waiting(), 1);
        let t = Instant::now();
        drop(pool);
        assert!(t.elapsed() < Duration::from_millis(500), "drop waited");
        release_a.send(()).unwrap();
        drop(release_b);
        // The job that was running finishes and answers...
        tokio::time::timeout(Duration::from_secs(10), answered(running))
            .await
            .unwrap()
            .unwrap();
        // ...the queued one is dropped and its caller told so.
        let answer = tokio::time::timeout(Duration::from_secs(10), answered(queued))
            .await
            .expect("the waiting caller was never answered");
        assert!(
            matches!(answer, Err(ServerError::HashingStopped(_))),
            "{answer:?}"
        );
        eventually("the threads to exit", || {
            shared.alive.load(Ordering::SeqCst) == 0
        })
        .await;
    }

    #[tokio::test]
    async fn a_cancelled_caller_costs_no_hash() {
        let pool = HashPool::start(n(1), 4, Priority::Inherit).unwrap();
        let (release, _blocker) = occupy(&pool);
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        // A caller that gives up (its request was cancelled) before its turn.
        let gave_up = pool
            .submit(move || flag.store(true, Ordering::SeqCst))
            .unwrap();
        drop(gave_up);
        release.send(()).unwrap();
        // A later job proves the skipped one has been taken off the queue.
        answered(pool.submit(|| ()).unwrap()).await.unwrap();
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn the_callers_span_is_entered() {
        use std::sync::Mutex as StdMutex;
        use tracing::Instrument;
        use tracing_subscriber::layer::SubscriberExt;

        /// Thread name and enclosing span names of one event.
        type Seen = (String, Vec<String>);
        /// Records the spans around every event.
        #[derive(Clone, Default)]
        struct Scopes(Arc<StdMutex<Vec<Seen>>>);
        impl<S> tracing_subscriber::Layer<S> for Scopes
        where
            S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
        {
            fn on_event(
                &self,
                event: &tracing::Event<'_>,
                ctx: tracing_subscriber::layer::Context<'_, S>,
            ) {
                let spans = ctx
                    .event_scope(event)
                    .map(|s| s.map(|span| span.name().to_owned()).collect())
                    .unwrap_or_default();
                let thread = std::thread::current().name().unwrap_or("").to_owned();
                self.0.lock().unwrap().push((thread, spans));
            }
        }
        let scopes = Scopes::default();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(scopes.clone()));
        let pool = HashPool::start(n(1), 1, Priority::Inherit).unwrap();
        let _default = tracing::dispatcher::set_default(&dispatch);
        let receiver = async { pool.submit(|| tracing::info!("inside the job")) }
            .instrument(tracing::info_span!("login_request"))
            .await
            .unwrap();
        answered(receiver).await.unwrap();
        let seen = scopes.0.lock().unwrap().clone();
        assert!(
            seen.iter()
                .any(|(thread, spans)| thread.starts_with("palisade-hash-")
                    && spans.iter().any(|s| s == "login_request")),
            "{seen:?}"
        );
    }
}
