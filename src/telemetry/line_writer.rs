//! A writer thread for log lines that never makes the caller wait.
//!
//! Each thread that logs appends its lines to a buffer of its own (a
//! [`Shard`]), under a lock only the writer thread ever contends for; the
//! writer wakes every [`WRITE_INTERVAL`], swaps each buffer for an empty one
//! and writes what it took in as few `write` calls as it can. A line costs
//! its formatting and a memory copy: no allocation (a line sent as its own
//! `Vec` through a channel was allocated on a request thread and freed on
//! the writer's, which made both fight over the allocator's lock), no
//! system call, and the writer is never woken per line. When a thread's
//! buffer already holds its limit, the line is dropped and counted. A line
//! reaches the output at most one interval late; [`WriterGuard`] writes
//! what is left when it is dropped.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a line may wait in its buffer.
pub const WRITE_INTERVAL: Duration = Duration::from_millis(50);

/// How long dropping the guard waits for the last lines to be written (a
/// stalled output must not keep the process from ending).
const LAST_WRITE_WAIT: Duration = Duration::from_secs(2);

/// The lines one thread has written and the writer has not taken yet.
#[derive(Default)]
struct Shard {
    lines: Mutex<Vec<u8>>,
}

/// What the sending side and the writer thread share.
struct Shared {
    /// Which writer this is, for threads' lookups of their shard.
    id: u64,
    shards: Mutex<Vec<Arc<Shard>>>,
    dropped: AtomicU64,
    stop: AtomicBool,
}

/// The sending side: cheap to use from any thread.
pub struct LineWriter {
    shared: Arc<Shared>,
    /// Most bytes a thread's buffer may hold before lines are dropped.
    limit: usize,
}

/// Stops the thread when dropped, after it writes what is buffered.
#[must_use = "dropping the guard stops the writer"]
pub struct WriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

thread_local! {
    /// This thread's shard of each writer it has written to (one, outside
    /// tests), by writer id.
    static SHARDS: RefCell<Vec<(u64, Arc<Shard>)>> = const { RefCell::new(Vec::new()) };
}

impl LineWriter {
    /// Starts a thread named `name` writing to `out`; each logging thread
    /// may have up to `limit` bytes waiting.
    pub fn start<W: Write + Send + 'static>(
        name: &str,
        out: W,
        limit: usize,
    ) -> std::io::Result<(Self, WriterGuard)> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shards: Mutex::default(),
            dropped: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let writing = shared.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || write_until_stopped(&writing, out))?;
        Ok((
            Self {
                shared: shared.clone(),
                limit,
            },
            WriterGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }

    /// Appends one line (`write_line` must end it with a newline) to this
    /// thread's buffer, or counts it as dropped when the buffer is full.
    pub fn send(&self, write_line: impl FnOnce(&mut Vec<u8>)) {
        self.with_shard(|shard| {
            let mut lines = shard.lines.lock().unwrap_or_else(PoisonError::into_inner);
            if lines.len() >= self.limit {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            write_line(&mut lines);
        });
    }

    /// Lines dropped because a buffer was full.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Calls `use_shard` with this thread's shard, made and handed to the
    /// writer on first use. The shard is borrowed where it lies (no
    /// reference count touched per line), under a shared borrow of the
    /// thread's list, so a line that logs while it is written cannot find
    /// the list locked.
    fn with_shard(&self, use_shard: impl FnOnce(&Shard)) {
        let mut use_shard = Some(use_shard);
        SHARDS.with_borrow(|shards| {
            if let Some((_, shard)) = shards.iter().find(|(id, _)| *id == self.shared.id)
                && let Some(use_shard) = use_shard.take()
            {
                use_shard(shard);
            }
        });
        let Some(use_shard) = use_shard else {
            return;
        };
        let shard = Arc::new(Shard::default());
        self.shared
            .shards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(shard.clone());
        use_shard(&shard);
        SHARDS.with_borrow_mut(|shards| shards.push((self.shared.id, shard)));
    }
}

fn write_until_stopped<W: Write>(shared: &Shared, mut out: W) {
    let mut taken = Vec::new();
    loop {
        // Read the flag first: lines buffered before it was set are written below.
        let stopping = shared.stop.load(Ordering::Acquire);
        let shards = shared
            .shards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for shard in shards {
            std::mem::swap(
                &mut *shard.lines.lock().unwrap_or_else(PoisonError::into_inner),
                &mut taken,
            );
            // A failed write (a closed stderr) loses lines; nothing else to do.
            let _ = out.write_all(&taken);
            taken.clear();
        }
        let _ = out.flush();
        if stopping {
            return;
        }
        std::thread::park_timeout(WRITE_INTERVAL);
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let Some(thread) = self.thread.take() else {
            return;
        };
        thread.thread().unpark();
        let deadline = Instant::now() + LAST_WRITE_WAIT;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, mpsc};

    /// An output that blocks until the test lets it go, as a stalled pipe does.
    struct Stalled {
        released: Arc<(Mutex<bool>, Condvar)>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, released) = &*self.released;
            let mut go = lock.lock().unwrap();
            while !*go {
                go = released.wait(go).unwrap();
            }
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_output_drops_and_counts_lines_instead_of_blocking_senders() {
        let released = Arc::new((Mutex::new(false), Condvar::new()));
        let written = Arc::new(Mutex::new(Vec::new()));
        let out = Stalled {
            released: released.clone(),
            written: written.clone(),
        };
        // Room for four of the lines below in the sending thread's buffer.
        let (writer, guard) = LineWriter::start("test-writer", out, 4 * 70 * 1024).unwrap();
        let writer = Arc::new(writer);
        let (done, finished) = mpsc::channel();
        let sending = writer.clone();
        std::thread::spawn(move || {
            let long = format!("{}\n", "x".repeat(70 * 1024));
            for _ in 0..200 {
                sending.send(|buffer| buffer.extend_from_slice(long.as_bytes()));
            }
            let _ = done.send(());
        });
        // If a send waited for the output, the loop would never end.
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("sending lines waited for the stalled output");
        let dropped = writer.dropped_lines();
        assert!(dropped > 0, "a full buffer drops lines");
        assert!(dropped < 200, "lines that fit in the buffer are kept");
        let (lock, go) = &*released;
        *lock.lock().unwrap() = true;
        go.notify_all();
        drop(guard);
        let kept = String::from_utf8(written.lock().unwrap().clone())
            .unwrap()
            .lines()
            .count();
        assert_eq!(
            u64::try_from(kept).unwrap() + dropped,
            200,
            "every line is either written or counted as dropped"
        );
    }

    /// An output the test reads back.
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_within_the_interval_and_in_order() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let (writer, guard) =
            LineWriter::start("test-writer", Shared(written.clone()), 1024).unwrap();
        for n in 0..100 {
            writer.send(|buffer| buffer.extend_from_slice(format!("line {n}\n").as_bytes()));
        }
        // Without the guard dropped: the thread writes on its own.
        let mut text = String::new();
        for _ in 0..400 {
            text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
            if text.lines().count() == 100 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let expected: Vec<String> = (0..100).map(|n| format!("line {n}")).collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
        assert_eq!(writer.dropped_lines(), 0);
        drop(guard);
    }

    #[test]
    fn lines_from_many_threads_all_arrive_each_thread_in_order() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let (writer, guard) =
            LineWriter::start("test-writer", Shared(written.clone()), 1 << 20).unwrap();
        let writer = Arc::new(writer);
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..1000 {
                        writer.send(|buffer| {
                            buffer.extend_from_slice(format!("{thread} {n}\n").as_bytes());
                        });
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let mut next = [0; 4];
        for line in text.lines() {
            let (thread, n) = line.split_once(' ').unwrap();
            let thread: usize = thread.parse().unwrap();
            assert_eq!(n.parse::<i32>().unwrap(), next[thread], "{line}");
            next[thread] += 1;
        }
        assert_eq!(next, [1000; 4], "every line of every thread is written");
        assert_eq!(writer.dropped_lines(), 0);
    }
}
