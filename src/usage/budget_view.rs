//! A token's budgets as the dashboard shows them: "used / limit", a `<meter>`, what is left and
//! when it resets. Pure: the glue hands in the ledger object's `BudgetLine`s, or only the policy's
//! budgets when the object could not be read.

use super::format::{fixed, fixed_trimmed, int};
use crate::budget::book::Budgets;
use crate::budget::guard::BudgetLine;
use crate::budget::period::Period;

/// One budget, every figure already in words.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetBar {
    /// "Dollar budget" or "Token budget".
    pub title: &'static str,
    /// "per day", "per month", "in total".
    pub per: &'static str,
    /// `$25.00`, `10,000 tokens`.
    pub limit: String,
    /// The rest is `None` when the ledger could not be read: the limit is shown alone.
    pub usage: Option<BudgetUse>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BudgetUse {
    /// Settled spend in the current period: `$1.23`, `1,234`.
    pub used: String,
    /// Held by requests still running, when any: `$0.05`.
    pub held: Option<String>,
    /// `$23.72 left`, `8,766 tokens left`.
    pub left: String,
    /// `resets 2027-01-01 00:00 UTC`, `does not reset`.
    pub resets: String,
    /// The period's end as stored (RFC 3339), for a `<time datetime>`.
    pub resets_at: Option<String>,
    /// The meter's attributes, in the budget's unit: used plus held, and the limit.
    pub value: String,
    pub max: String,
    /// Where the meter turns to a warning colour (80 % of the limit).
    pub high: String,
    /// Spoken instead of the bare number: "$1.23 of $25.00 used, $23.77 left".
    pub value_text: String,
    /// Nothing left: the next request is refused.
    pub exhausted: bool,
}

/// `$25.00`; amounts under a cent keep up to six decimals (`$0.000016`), so a few cheap requests
/// do not read as nothing spent.
pub fn usd(v: f64) -> String {
    if v > 0.0 && v < 0.01 {
        match fixed_trimmed(v, 6).as_str() {
            "0" => "under $0.000001".to_string(),
            small => format!("${small}"),
        }
    } else {
        let cents = fixed(v, 2);
        let (whole, frac) = cents.split_once('.').unwrap_or((&cents, "00"));
        format!("${}.{frac}", int(whole.parse().unwrap_or(0)))
    }
}

fn tokens(v: f64) -> String {
    int(v.max(0.0).round() as u64)
}

/// `2027-01-01T00:00:00Z` as `2027-01-01 00:00 UTC`.
fn readable(at: &str) -> String {
    match (at.get(..10), at.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => at.to_string(),
    }
}

impl BudgetBar {
    pub fn of(line: &BudgetLine) -> BudgetBar {
        let is_usd = line.unit == "usd";
        let amount = |v: f64| if is_usd { usd(v) } else { tokens(v) };
        let taken = (line.spent + line.held).min(line.limit).max(0.0);
        let number = |v: f64| if is_usd { fixed_trimmed(v, 6) } else { tokens(v).replace(',', "") };
        let limit = if is_usd { usd(line.limit) } else { format!("{} tokens", tokens(line.limit)) };
        let left = if is_usd { format!("{} left", usd(line.left)) } else { format!("{} tokens left", tokens(line.left)) };
        let held = (line.held > 0.0).then(|| amount(line.held));
        let value_text = match &held {
            Some(h) => format!("{} of {limit} used, {h} held by requests in progress, {left}", amount(line.spent)),
            None => format!("{} of {limit} used, {left}", amount(line.spent)),
        };
        BudgetBar {
            title: if is_usd { "Dollar budget" } else { "Token budget" },
            per: line.per.phrase(),
            usage: Some(BudgetUse {
                used: amount(line.spent),
                held,
                left,
                resets: line.resets_at.as_deref().map_or_else(|| "does not reset".to_string(), |at| format!("resets {}", readable(at))),
                resets_at: line.resets_at.clone(),
                value: number(taken),
                max: number(line.limit),
                high: number(line.limit * 0.8),
                value_text,
                exhausted: line.left <= 0.0,
            }),
            limit,
        }
    }

    /// The budgets a policy sets, without their use (the ledger did not answer).
    pub fn unread(budgets: &Budgets) -> Vec<BudgetBar> {
        let mut out = Vec::new();
        if let Some(b) = budgets.usd {
            out.push(BudgetBar { title: "Dollar budget", per: b.per.phrase(), limit: usd(b.usd), usage: None });
        }
        if let Some(b) = budgets.tokens {
            out.push(BudgetBar { title: "Token budget", per: b.per.phrase(), limit: format!("{} tokens", int(b.tokens)), usage: None });
        }
        out
    }

    /// "Dollar budget per month: $1.23 / $25.00": the meter's accessible name and hover title.
    pub fn summary(&self) -> String {
        match &self.usage {
            Some(u) => format!("{} {}: {} / {}", self.title, self.per, u.used, self.limit),
            None => format!("{} {}: {}", self.title, self.per, self.limit),
        }
    }
}

pub fn bars(lines: &[BudgetLine]) -> Vec<BudgetBar> {
    lines.iter().map(BudgetBar::of).collect()
}

/// A budget's amount as the token form shows it: `25`, `2.5`, `2000000`.
pub fn form_amount_usd(v: f64) -> String {
    fixed_trimmed(v, 6)
}

/// The form's period choices: (value, words, selected).
pub fn period_choices(selected: Period) -> Vec<(&'static str, &'static str, bool)> {
    [Period::Day, Period::Month, Period::Total]
        .into_iter()
        .map(|p| {
            let value = match p {
                Period::Day => "day",
                Period::Month => "month",
                Period::Total => "total",
            };
            (value, p.phrase(), p == selected)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::book::{TokenBudget, UsdBudget};

    fn line(unit: &str, limit: f64, spent: f64, held: f64, per: Period, resets_at: Option<&str>) -> BudgetLine {
        BudgetLine { unit: unit.into(), limit, per, spent, held, left: (limit - spent - held).max(0.0), resets_at: resets_at.map(str::to_string) }
    }

    #[test]
    fn a_dollar_budget_reads_used_of_limit_with_what_is_left_and_the_reset() {
        let bar = BudgetBar::of(&line("usd", 25.0, 1.234, 0.0, Period::Month, Some("2027-01-01T00:00:00Z")));
        assert_eq!((bar.title, bar.per, bar.limit.as_str()), ("Dollar budget", "per month", "$25.00"));
        let u = bar.usage.as_ref().unwrap();
        assert_eq!((u.used.as_str(), u.left.as_str(), u.resets.as_str()), ("$1.23", "$23.77 left", "resets 2027-01-01 00:00 UTC"));
        assert_eq!((u.value.as_str(), u.max.as_str(), u.high.as_str()), ("1.234", "25", "20"));
        assert_eq!(u.held, None);
        assert_eq!(u.value_text, "$1.23 of $25.00 used, $23.77 left");
        assert!(!u.exhausted);
        assert_eq!(bar.summary(), "Dollar budget per month: $1.23 / $25.00");
    }

    #[test]
    fn a_token_budget_counts_held_tokens_in_the_bar_and_says_so() {
        let bar = BudgetBar::of(&line("tokens", 10_000.0, 1_234.0, 500.0, Period::Day, Some("2026-12-02T00:00:00Z")));
        let u = bar.usage.as_ref().unwrap();
        assert_eq!((bar.limit.as_str(), u.used.as_str(), u.left.as_str()), ("10,000 tokens", "1,234", "8,266 tokens left"));
        assert_eq!((u.value.as_str(), u.max.as_str()), ("1734", "10000"), "the bar shows what is taken, held included");
        assert_eq!(u.held.as_deref(), Some("500"));
        assert!(u.value_text.contains("500 held by requests in progress"), "{}", u.value_text);
    }

    #[test]
    fn a_used_up_total_budget_is_full_and_never_resets() {
        let bar = BudgetBar::of(&line("usd", 0.005, 0.007, 0.0, Period::Total, None));
        let u = bar.usage.as_ref().unwrap();
        assert_eq!(bar.limit, "$0.005", "under a cent keeps its digits");
        assert_eq!((usd(0.00001575), usd(0.0000001), usd(0.0), usd(1234.5)), ("$0.000016".into(), "under $0.000001".into(), "$0.00".into(), "$1,234.50".into()));
        assert_eq!((u.value.as_str(), u.max.as_str()), ("0.005", "0.005"), "the bar never runs past its end");
        assert_eq!((u.left.as_str(), u.resets.as_str(), u.resets_at.as_deref()), ("$0.00 left", "does not reset", None));
        assert!(u.exhausted);
    }

    #[test]
    fn budgets_whose_use_is_unknown_show_their_limit_alone() {
        let budgets = Budgets { usd: Some(UsdBudget { usd: 2.5, per: Period::Day }), tokens: Some(TokenBudget { tokens: 2_000_000, per: Period::Total }) };
        let bars = BudgetBar::unread(&budgets);
        assert_eq!(bars.iter().map(BudgetBar::summary).collect::<Vec<_>>(), ["Dollar budget per day: $2.50", "Token budget in total: 2,000,000 tokens"]);
        assert!(bars.iter().all(|b| b.usage.is_none()));
        assert!(BudgetBar::unread(&Budgets::default()).is_empty());
    }

    #[test]
    fn the_form_offers_each_period_with_one_selected() {
        let choices = period_choices(Period::Total);
        assert_eq!(choices, [("day", "per day", false), ("month", "per month", false), ("total", "in total", true)]);
        assert_eq!(form_amount_usd(25.0), "25");
        assert_eq!(form_amount_usd(2.5), "2.5");
    }
}
