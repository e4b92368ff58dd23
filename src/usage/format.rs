//! Numbers as the dashboard shows them: counts with thousands separators, costs in USD or
//! "no price", and the token list's 30-day cells.

use super::ledger::Counters;

/// `v` with `decimals` digits after the point, rounded, for non-negative values. Integer
/// arithmetic on purpose: Rust's float formatting adds tens of KiB to the wasm bundle.
pub fn fixed(v: f64, decimals: u32) -> String {
    let scale = 10u64.pow(decimals);
    let n = (v.max(0.0) * scale as f64).round() as u64;
    if decimals == 0 {
        return int_plain(n);
    }
    format!("{}.{:0width$}", n / scale, n % scale, width = decimals as usize)
}

fn int_plain(n: u64) -> String {
    n.to_string()
}

/// Like `fixed`, without trailing zeros (and point).
pub fn fixed_trimmed(v: f64, decimals: u32) -> String {
    let s = fixed(v, decimals);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `12,345`
pub fn int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A cost for a table cell: "no price" when nothing in it had one.
pub fn cost(c: &Counters) -> String {
    match c.priced_cost_usd() {
        None => "no price".into(),
        Some(v) if v > 0.0 && v < 0.01 => format!("${}", fixed(v, 4)),
        Some(v) => format!("${}", fixed(v, 2)),
    }
}

/// The token list's 30-day cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cells {
    pub requests: String,
    pub tokens: String,
    pub cost: String,
}

impl Cells {
    pub fn of(c: Option<&Counters>) -> Cells {
        match c {
            None => Cells { requests: "0".into(), tokens: "0".into(), cost: "$0.00".into() },
            Some(c) => Cells { requests: int(c.requests), tokens: int(c.input_tokens + c.output_tokens), cost: cost(c) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_without_float_formatting() {
        assert_eq!(fixed(1.006, 2), "1.01");
        assert_eq!(fixed(0.00012, 4), "0.0001");
        assert_eq!(fixed(12.0, 1), "12.0");
        assert_eq!(fixed(7.6, 0), "8");
        assert_eq!(fixed_trimmed(0.025, 4), "0.025");
        assert_eq!(fixed_trimmed(2.0, 3), "2");
    }

    #[test]
    fn numbers_and_costs_read_well() {
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(int(12), "12");
        assert_eq!(cost(&Counters { requests: 1, unpriced_requests: 1, ..Counters::default() }), "no price");
        assert_eq!(cost(&Counters { requests: 1, cost_pusd: 1_234_000_000, ..Counters::default() }), "$0.0012");
        assert_eq!(Cells::of(None).requests, "0");
    }

}
