//! Numbers as the dashboard shows them: counts with thousands separators, costs in USD or
//! "no price", and the token list's 30-day cells.

use super::ledger::Counters;

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
        Some(v) if v > 0.0 && v < 0.01 => format!("${v:.4}"),
        Some(v) => format!("${v:.2}"),
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
    fn numbers_and_costs_read_well() {
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(int(12), "12");
        assert_eq!(cost(&Counters { requests: 1, unpriced_requests: 1, ..Counters::default() }), "no price");
        assert_eq!(cost(&Counters { requests: 1, cost_pusd: 1_234_000_000, ..Counters::default() }), "$0.0012");
        assert_eq!(Cells::of(None).requests, "0");
    }

}
