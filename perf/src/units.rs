//! Number formatting for the report: digit grouping, MiB and per-item times.
//!
//! Millions of requests are unreadable as `4000000`; every count the demo
//! prints goes through [`grouped`].

use std::time::Duration;

/// "123.4 ms (56 ns/submit)".
pub fn per_item(time: Duration, n: f64, what: &str) -> String {
    format!(
        "{:.1} ms ({:.0} ns/{what})",
        time.as_secs_f64() * 1e3,
        time.as_nanos() as f64 / n
    )
}

/// Bytes as MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `4000000` as `4,000,000`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(4_000_000), "4,000,000");
        assert_eq!(grouped(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn per_item_times() {
        assert_eq!(
            per_item(Duration::from_millis(27), 1e6, "cancel"),
            "27.0 ms (27 ns/cancel)"
        );
        assert_eq!(mib(3 << 20), 3.0);
    }
}
