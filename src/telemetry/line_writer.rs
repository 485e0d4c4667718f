//! A writer thread for log lines that never makes the caller wait.
//!
//! Lines go into a bounded queue; a thread wakes every [`WRITE_INTERVAL`],
//! takes everything queued and writes it in as few `write` calls as its
//! 64 KiB buffer allows. The thread is never woken per line: a sender only
//! pushes onto the queue, with no system call (waking a sleeping writer for
//! each line cost a `futex` call per request). When the queue is full the
//! line is dropped and counted. A line reaches the output at most one
//! interval late; [`WriterGuard`] writes what is left when it is dropped.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a line may wait in the queue.
pub const WRITE_INTERVAL: Duration = Duration::from_millis(50);

/// How long dropping the guard waits for the last lines to be written (a
/// stalled output must not keep the process from ending).
const LAST_WRITE_WAIT: Duration = Duration::from_secs(2);

/// The sending side: cheap to use from any thread.
pub struct LineWriter {
    queue: SyncSender<Vec<u8>>,
    dropped: AtomicU64,
}

/// Stops the thread when dropped, after it writes what is queued.
#[must_use = "dropping the guard stops the writer"]
pub struct WriterGuard {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LineWriter {
    /// Starts a thread named `name` writing to `out`, with room for
    /// `queue_lines` lines.
    pub fn start<W: Write + Send + 'static>(
        name: &str,
        out: W,
        queue_lines: usize,
    ) -> std::io::Result<(Self, WriterGuard)> {
        let (queue, lines) = mpsc::sync_channel(queue_lines);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || write_until_stopped(&lines, out, &stopping))?;
        Ok((
            Self {
                queue,
                dropped: AtomicU64::new(0),
            },
            WriterGuard {
                stop,
                thread: Some(thread),
            },
        ))
    }

    /// Queues `line` (newline included), or counts it as dropped.
    pub fn send(&self, line: Vec<u8>) {
        if let Err(TrySendError::Full(_)) = self.queue.try_send(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped because the queue was full.
    pub fn dropped_lines(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn write_until_stopped<W: Write>(lines: &Receiver<Vec<u8>>, out: W, stop: &AtomicBool) {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    loop {
        // Read the flag first: lines queued before it was set are written below.
        let stopping = stop.load(Ordering::Acquire);
        while let Ok(line) = lines.try_recv() {
            // A failed write (a closed stderr) loses lines; nothing else to do.
            let _ = out.write_all(&line);
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
        self.stop.store(true, Ordering::Release);
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
    use std::sync::{Condvar, Mutex};

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
        let (writer, guard) = LineWriter::start("test-writer", out, 4).unwrap();
        let writer = Arc::new(writer);
        let (done, finished) = mpsc::channel();
        let sending = writer.clone();
        std::thread::spawn(move || {
            // Lines bigger than the 64 KiB buffer reach the stalled output.
            let long = format!("{}\n", "x".repeat(70 * 1024));
            for _ in 0..200 {
                sending.send(long.clone().into_bytes());
            }
            let _ = done.send(());
        });
        // If a send waited for the output, the loop would never end.
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("sending lines waited for the stalled output");
        let dropped = writer.dropped_lines();
        assert!(dropped > 0, "a full queue drops lines");
        assert!(dropped < 200, "lines that fit in the queue are kept");
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
            writer.send(format!("line {n}\n").into_bytes());
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
}
