//! A real compute engine over `alluxio://`: Spark (PySpark from PyPI, local mode) with Alluxio
//! 2.9.6's shaded client jar on its class path, running `tests/spark/job.py` — read a folder of
//! CSV files, total it by category, write Parquet back, read it back — and reporting what it
//! printed. `tests/spark/fetch` installs both, once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The folder with the job, the pinned PySpark version, the jar's pom and the `fetch` script.
pub const SPARK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/spark");
/// How long one job may run before the harness calls it hung and kills it.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// Rows and amount total per category: what the job computes, and what a test expects.
pub type Totals = BTreeMap<String, (u64, i64)>;

/// Writes `files` CSV files of `rows_per_file` sales each (`id,category,amount`, with a header)
/// into `folder`, and returns their totals per category.
pub fn write_sales(folder: &Path, files: usize, rows_per_file: usize) -> Totals {
    std::fs::create_dir_all(folder).expect("the data set's folder");
    let mut totals = Totals::new();
    for file in 0..files {
        let mut text = String::from("id,category,amount\n");
        for row in 0..rows_per_file {
            let id = (file * rows_per_file + row) as u64;
            let category = ["books", "garden", "music", "tools", "toys"][(id % 5) as usize];
            let amount = (id.wrapping_mul(7919) % 1000) as i64 - 100;
            text.push_str(&format!("{id},{category},{amount}\n"));
            let total = totals.entry(category.to_string()).or_default();
            total.0 += 1;
            total.1 += amount;
        }
        std::fs::write(folder.join(format!("part-{file:04}.csv")), text).expect("a CSV file");
    }
    totals
}

/// One run of the job.
#[derive(Debug, Default, Clone)]
pub struct SparkJob {
    /// The `alluxio://` folder of CSV files to read.
    pub input: String,
    /// The `alluxio://` folder to write the Parquet totals to.
    pub output: String,
    /// The output folder's path in a local-folder UFS: the job waits until it is persisted
    /// there and reads it straight from there too.
    pub ufs_output: Option<PathBuf>,
    /// After reading its input, the job waits until this file exists.
    pub pause_file: Option<PathBuf>,
    /// Alluxio client properties (`-D` options of Spark's driver).
    pub defines: Vec<(String, String)>,
}

/// A job that runs; its output lines arrive as it prints them.
pub struct RunningJob {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: std::thread::JoinHandle<String>,
    started: Instant,
}

/// What a finished job reported.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// Rows of the input.
    pub rows_read: u64,
    /// The totals as read back through `alluxio://`.
    pub through_alluxio: Totals,
    /// The totals as read straight from the UFS (with [`SparkJob::ufs_output`]).
    pub in_ufs: Totals,
    /// The output folder's files and lengths, as the client listed them.
    pub files: Vec<(String, u64)>,
    /// Seconds from the Spark session's start to the totals read back (no JVM start-up).
    pub job_seconds: f64,
    /// Seconds from the process's start to its end.
    pub wall_seconds: f64,
}

/// The virtualenv's Python and the shaded client jar, installed unless they are there; panics
/// saying what is missing.
fn ensure_installed() -> (PathBuf, PathBuf) {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        let script = Path::new(SPARK_DIR).join("fetch");
        let status =
            Command::new(&script).status().map_err(|e| format!("running {script:?}: {e}"))?;
        status.success().then_some(()).ok_or_else(|| {
            format!("{script:?} failed ({status}); are python3-venv, Maven, PyPI reachable?")
        })
    });
    if let Err(why) = installed {
        panic!("Spark for the compute-engine test is missing: {why}");
    }
    let dir = Path::new(SPARK_DIR);
    (dir.join("venv/bin/python"), dir.join("lib/alluxio-shaded-client-2.9.6.jar"))
}

impl SparkJob {
    /// Starts the job.
    pub fn start(&self) -> RunningJob {
        let (python, jar) = ensure_installed();
        let mut command = Command::new(&python);
        command.arg(Path::new(SPARK_DIR).join("job.py")).arg("--jar").arg(&jar).args([
            "--input",
            &self.input,
            "--output",
            &self.output,
        ]);
        if let Some(path) = &self.ufs_output {
            command.arg("--ufs-output").arg(path);
        }
        if let Some(path) = &self.pause_file {
            command.arg("--pause-file").arg(path);
        }
        for (key, value) in &self.defines {
            command.arg(format!("--define={key}={value}"));
        }
        command
            .env("PYSPARK_PYTHON", &python)
            // Spark binds and advertises this address, not the host name's.
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        crate::process::die_with_parent(&mut command);
        let started = Instant::now();
        let mut child = command.spawn().expect("starting the Spark job (python3, a JDK?)");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        RunningJob { child, lines, seen: Vec::new(), stderr, started }
    }

    /// Runs the job to its end.
    pub fn run(&self) -> JobReport {
        self.start().finish()
    }
}

impl RunningJob {
    /// Waits until the job prints a line starting with `prefix`, and returns it; panics with
    /// the job's log if it ends or hangs first.
    pub fn wait_for_line(&mut self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) if self.started.elapsed() < HANG_GUARD => {}
                Err(_) => self.fail(&format!("no line starting with {prefix:?}")),
            }
        }
    }

    /// Waits for the job to end, and returns what it reported; panics with its log if it
    /// failed or hung.
    pub fn finish(mut self) -> JobReport {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the Spark job") {
                break status;
            }
            if self.started.elapsed() > HANG_GUARD {
                self.fail("the job hung");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let wall_seconds = self.started.elapsed().as_secs_f64();
        self.seen.extend(self.lines.try_iter());
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(1)) {
            self.seen.push(line);
        }
        if !status.success() {
            self.fail(&format!("the job failed ({status})"));
        }
        let mut report = JobReport {
            rows_read: 0,
            through_alluxio: Totals::new(),
            in_ufs: Totals::new(),
            files: Vec::new(),
            job_seconds: 0.0,
            wall_seconds,
        };
        for line in &self.seen {
            let words: Vec<&str> = line.split_whitespace().collect();
            let number = |index: usize| words.get(index).and_then(|word| word.parse().ok());
            match words.first().copied() {
                Some("READ") => report.rows_read = number(1).unwrap_or_default() as u64,
                Some("SECONDS") => report.job_seconds = number(1).unwrap_or_default(),
                Some(source @ ("ALLUXIO" | "UFS")) if words.len() == 4 => {
                    let totals = match source {
                        "ALLUXIO" => &mut report.through_alluxio,
                        _ => &mut report.in_ufs,
                    };
                    let rows = words[2].parse().expect("a row count");
                    totals.insert(words[1].to_string(), (rows, words[3].parse().expect("a sum")));
                }
                Some("FILE") if words.len() == 3 => {
                    report.files.push((words[1].to_string(), words[2].parse().expect("a length")));
                }
                _ => {}
            }
        }
        report
    }

    /// Kills the job and panics with `why`, what it printed and the end of its log.
    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.seen.extend(self.lines.try_iter());
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        let log = stderr.join().unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "Spark job: {why}\nstdout:\n{}\nlog (end):\n{}",
            self.seen.join("\n"),
            tail.join("\n")
        );
    }
}
