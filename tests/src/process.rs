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
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines, seen: Vec::new() }
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
