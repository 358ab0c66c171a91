//! The machine the numbers were taken on, and the process's memory use
//! and CPU time.
//!
//! Throughput figures mean little without the CPU and core count beside
//! them, so the demo prints these first. Everything is read from `/proc`
//! where it exists; on other systems the fields say "unknown" rather than
//! failing the run.

use std::fmt;
use std::fs;

/// CPU model, usable cores, kernel release and allocator setting.
#[derive(Clone, Debug)]
pub struct Machine {
    /// `model name` from `/proc/cpuinfo`.
    pub cpu: String,
    /// `std::thread::available_parallelism`.
    pub cores: Option<usize>,
    /// `/proc/sys/kernel/osrelease` (what `uname -r` prints).
    pub kernel: String,
    /// [`appc_perf::malloc::setting`].
    pub malloc: &'static str,
}

impl Machine {
    /// Reads the figures; any that cannot be read become "unknown".
    pub fn detect() -> Self {
        let cpu = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .filter_map(|line| line.split_once(':'))
                    .find(|(key, _)| key.trim() == "model name")
                    .map(|(_, value)| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        Self {
            cpu,
            cores: std::thread::available_parallelism().ok().map(|n| n.get()),
            kernel,
            malloc: appc_perf::malloc::setting(),
        }
    }
}

/// "AMD EPYC ..., 2 cores, kernel 6.18.44, malloc ...": the report's
/// machine line.
impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cores {
            Some(n) => write!(f, "{}, {n} cores, kernel {}", self.cpu, self.kernel)?,
            None => write!(f, "{}, ? cores, kernel {}", self.cpu, self.kernel)?,
        }
        write!(f, ", malloc {}", self.malloc)
    }
}

/// A `kB` field of `/proc/self/status` (`VmHWM`, `VmRSS`, ...), in bytes.
pub fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kib = rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
        Some(kib * 1024)
    })
}

/// The CPU time the whole process has used so far, user plus system
/// (`getrusage(RUSAGE_SELF)`); `None` where it cannot be read.
#[cfg(target_os = "linux")]
pub fn cpu_time() -> Option<std::time::Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `usage` is a valid place for the one `rusage` getrusage
    // writes; it is read only if the call succeeded.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        let micros = u32::try_from(t.tv_usec).ok()?;
        Some(std::time::Duration::new(
            t.tv_sec.try_into().ok()?,
            micros * 1_000,
        ))
    };
    Some(time(usage.ru_utime)? + time(usage.ru_stime)?)
}

/// The CPU time the whole process has used so far (not read here).
#[cfg(not(target_os = "linux"))]
pub fn cpu_time() -> Option<std::time::Duration> {
    None
}
