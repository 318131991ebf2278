//! Child processes for cross-process tests: spawn with captured stdout lines, signal, kill.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

/// A child process whose stdout lines arrive on a channel; killed when dropped.
pub struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line received so far.
    pub seen: Vec<String>,
}

impl Proc {
    /// Starts `program` with `args`, capturing stdout (stderr is inherited).
    pub fn spawn(program: &str, args: &[String]) -> Proc {
        let mut command = Command::new(program);
        command.args(args);
        Proc::start(command, false)
    }

    /// Starts `command`, capturing stdout and, when `with_stderr`, stderr's lines too (both
    /// arrive on the same channel, each stream in order). The child dies with the thread that
    /// starts it (see [`die_with_parent`]).
    pub fn start(mut command: Command, with_stderr: bool) -> Proc {
        die_with_parent(&mut command);
        command.stdout(Stdio::piped());
        if with_stderr {
            command.stderr(Stdio::piped());
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
        let (sender, lines) = mpsc::channel();
        let forward = |stream: Box<dyn std::io::Read + Send>, sender: mpsc::Sender<String>| {
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
        };
        forward(Box::new(child.stdout.take().expect("piped stdout")), sender.clone());
        if let Some(stderr) = child.stderr.take() {
            forward(Box::new(stderr), sender);
        }
        Proc { child, lines, seen: Vec::new() }
    }

    /// Waits for the process to exit (after a signal) and returns whether it succeeded,
    /// collecting the rest of its output.
    pub fn wait(&mut self) -> bool {
        let status = self.child.wait().expect("waiting for the child");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        status.success()
    }

    /// Waits up to `limit` for a line containing `text` and returns it.
    pub fn wait_for_text(&mut self, text: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            if line.contains(text) {
                return Some(line);
            }
        }
    }

    /// Waits up to `limit` for a line starting with `prefix` and returns it. The limit only
    /// keeps a broken run from hanging; it is not a speed requirement.
    pub fn wait_for(&mut self, prefix: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Collects the lines that arrived so far without waiting.
    pub fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has a file or folder under `folder` open (a put in flight, for a
    /// journal writer). Meaningful while it is stopped: the answer then still holds.
    pub fn holds_open_under(&self, folder: &std::path::Path) -> bool {
        let Ok(descriptors) = std::fs::read_dir(format!("/proc/{}/fd", self.pid())) else {
            return false;
        };
        descriptors
            .flatten()
            .any(|d| std::fs::read_link(d.path()).is_ok_and(|target| target.starts_with(folder)))
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(self.child.id() as i32).expect("a live pid");
        kill_process(pid, signal).expect("signalling the child");
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.signal_cont_then_kill();
    }
}

impl Proc {
    fn signal_cont_then_kill(&mut self) -> std::io::Result<()> {
        if self.child.try_wait()?.is_none() {
            self.signal(Signal::CONT);
            self.kill();
        }
        Ok(())
    }
}

/// Makes a child die with the thread that started it (`PR_SET_PDEATHSIG`), so that no service
/// outlives the test that started it.
pub fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only makes one async-signal-safe system call.
    unsafe {
        command.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
}

/// Runs `start` on a thread that lives as long as this process, so that services it starts
/// with [`die_with_parent`] serve every test of the process and die with it.
pub fn start_for_the_process<T: Send + 'static>(start: fn() -> T) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(std::panic::catch_unwind(start));
        loop {
            std::thread::park();
        }
    });
    match receiver.recv().expect("the starter thread answers") {
        Ok(service) => service,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
