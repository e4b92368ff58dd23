//! A token's budget book: what was spent in the current period of each budget, and the
//! reservations of the requests still running.
//!
//! Before the upstream call a request reserves its worst case; when its answer ends the
//! reservation is taken out of the book (`take`) in the step that adds the request's real cost to
//! the token's ledger, and the spend is read back from the ledger's rows (`set_spent`), so the
//! book never keeps a second count of it. A reservation is
//! admitted while anything is left, and is cut down to what is left when its worst case does not
//! fit: refusing a request that would probably fit (its worst case is usually far above its real
//! cost) is the failure we avoid. What is left is then 0, so every other request is refused until
//! something settles: at most one request at a time runs on less than its worst case, and the
//! spend can exceed a budget by at most that request's real cost beyond what was left.

use serde::{Deserialize, Serialize};

use super::period::Period;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsdBudget {
    pub usd: f64,
    pub per: Period,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBudget {
    pub tokens: u64,
    pub per: Period,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budgets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd: Option<UsdBudget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenBudget>,
}

impl Budgets {
    pub fn is_empty(&self) -> bool {
        self.usd.is_none() && self.tokens.is_none()
    }
}

/// What a request may cost at most, or did cost: dollars (`None` when its model has no price)
/// and tokens (`input_tokens + output_tokens`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Amount {
    pub usd: Option<f64>,
    pub tokens: u64,
}

/// Spend in one period, which starts at `start` (Unix seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spent {
    pub start: i64,
    pub usd: f64,
    pub tokens: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: u64,
    /// When it was made (Unix seconds): its period, and its expiry.
    pub at: i64,
    pub held: Amount,
}

/// A reservation whose request never settled (the Worker was evicted, say) stops holding budget
/// after this long. Longer than any answer we expect to stream.
pub const RESERVATION_TTL_SECS: i64 = 30 * 60;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Book {
    /// Spend per period length, kept apart so a dollar budget per month and a token budget per day
    /// each see their own period.
    pub usd_spent: Spent,
    pub tokens_spent: Spent,
    pub open: Vec<Reservation>,
    pub next_id: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum BudgetRefusal {
    /// A dollar budget cannot meter a model without a price.
    Unpriced,
    UsdExhausted { budget: UsdBudget, now: i64 },
    TokensExhausted { budget: TokenBudget, now: i64 },
}

impl BudgetRefusal {
    pub fn message(&self) -> String {
        match self {
            BudgetRefusal::Unpriced => "This api-proxy token has a dollar budget, and this model has no price, so its cost \
                cannot be metered; ask the operator to add a price for it, or use a priced model."
                .into(),
            BudgetRefusal::UsdExhausted { budget, now } => format!(
                "This api-proxy token's budget of ${} {} is used up. {}",
                budget.usd,
                budget.per.phrase(),
                budget.per.resets(*now)
            ),
            BudgetRefusal::TokensExhausted { budget, now } => format!(
                "This api-proxy token's budget of {} tokens {} is used up. {}",
                budget.tokens,
                budget.per.phrase(),
                budget.per.resets(*now)
            ),
        }
    }
}

/// What is left of each budget once every open reservation is counted, for the answer's headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Remaining {
    pub usd: Option<f64>,
    pub tokens: Option<u64>,
}

impl Book {
    /// Starts a new period's spend where one has ended, and drops expired reservations.
    fn roll(&mut self, budgets: &Budgets, now: i64) {
        if let Some(b) = budgets.usd {
            let start = b.per.window(now).0;
            if self.usd_spent.start != start {
                self.usd_spent = Spent { start, ..Spent::default() };
            }
        }
        if let Some(b) = budgets.tokens {
            let start = b.per.window(now).0;
            if self.tokens_spent.start != start {
                self.tokens_spent = Spent { start, ..Spent::default() };
            }
        }
        self.open.retain(|r| now - r.at < RESERVATION_TTL_SECS);
    }

    fn left(&self, budgets: &Budgets, now: i64) -> Remaining {
        Remaining {
            usd: budgets.usd.map(|b| (b.usd - self.usd_spent.usd - self.held_in(b.per, now).usd.unwrap_or(0.0)).max(0.0)),
            tokens: budgets.tokens.map(|b| b.tokens.saturating_sub(self.tokens_spent.tokens + self.held_in(b.per, now).tokens)),
        }
    }

    /// Reserves `worst` for a request starting at `now`, or refuses it. Returns the reservation's
    /// id and what is left afterwards.
    pub fn reserve(&mut self, budgets: &Budgets, worst: Amount, now: i64) -> Result<(u64, Remaining), BudgetRefusal> {
        self.roll(budgets, now);
        let left = self.left(budgets, now);
        let mut held = worst;
        if let (Some(budget), Some(left)) = (budgets.usd, left.usd) {
            let Some(cost) = worst.usd else { return Err(BudgetRefusal::Unpriced) };
            if left <= 0.0 {
                return Err(BudgetRefusal::UsdExhausted { budget, now });
            }
            held.usd = Some(cost.min(left));
        }
        if let (Some(budget), Some(left)) = (budgets.tokens, left.tokens) {
            if left == 0 {
                return Err(BudgetRefusal::TokensExhausted { budget, now });
            }
            held.tokens = worst.tokens.min(left);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.push(Reservation { id, at: now, held });
        Ok((id, self.left(budgets, now)))
    }

    /// What is left now, without changing anything but the period.
    pub fn remaining(&mut self, budgets: &Budgets, now: i64) -> Remaining {
        self.roll(budgets, now);
        self.left(budgets, now)
    }

    /// Admits a request that reserves nothing (a WebSocket session, settled when it ends) while
    /// something is left of every budget.
    pub fn check(&mut self, budgets: &Budgets, now: i64) -> Result<Remaining, BudgetRefusal> {
        let left = self.remaining(budgets, now);
        if let (Some(budget), Some(l)) = (budgets.usd, left.usd) {
            if l <= 0.0 {
                return Err(BudgetRefusal::UsdExhausted { budget, now });
            }
        }
        if let (Some(budget), Some(0)) = (budgets.tokens, left.tokens) {
            return Err(BudgetRefusal::TokensExhausted { budget, now });
        }
        Ok(left)
    }

    /// Takes reservation `id` out of the book (its request was recorded or failed) and returns it.
    pub fn take(&mut self, id: u64) -> Option<Reservation> {
        let i = self.open.iter().position(|r| r.id == id)?;
        Some(self.open.swap_remove(i))
    }

    /// What was spent in each budget's current period, as the ledger's rows say: the book holds
    /// only the reservations, the ledger the settled spend.
    pub fn set_spent(&mut self, budgets: &Budgets, now: i64, usd: f64, tokens: u64) {
        if let Some(b) = budgets.usd {
            self.usd_spent = Spent { start: b.per.window(now).0, usd, tokens: 0 };
        }
        if let Some(b) = budgets.tokens {
            self.tokens_spent = Spent { start: b.per.window(now).0, usd: 0.0, tokens };
        }
    }

    /// Open reservations of the period containing `now`, for a budget of period `per`.
    pub fn held_in(&self, per: Period, now: i64) -> Amount {
        let start = per.window(now).0;
        let mut held = Amount { usd: Some(0.0), tokens: 0 };
        for r in self.open.iter().filter(|r| per.window(r.at).0 == start) {
            held.usd = Some(held.usd.unwrap_or(0.0) + r.held.usd.unwrap_or(0.0));
            held.tokens += r.held.tokens;
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_083_200; // 2026-12-01T00:00:00Z

    fn tokens(n: u64, per: Period) -> Budgets {
        Budgets { usd: None, tokens: Some(TokenBudget { tokens: n, per }) }
    }

    fn usd(n: f64, per: Period) -> Budgets {
        Budgets { usd: Some(UsdBudget { usd: n, per }), tokens: None }
    }

    fn amount(usd: f64, tokens: u64) -> Amount {
        Amount { usd: Some(usd), tokens }
    }

    /// The token's ledger as the `Ledger` object keeps it for the book: each request's cost, at
    /// the time the request was made. Settling takes the reservation out and adds the row;
    /// every decision first reads the spend of its period back from the rows.
    #[derive(Default)]
    struct Rows(Vec<(i64, f64, u64)>);

    impl Rows {
        fn settle(&mut self, book: &mut Book, id: u64, cost: Amount) {
            let r = book.take(id).expect("an open reservation");
            self.0.push((r.at, cost.usd.unwrap_or(0.0), cost.tokens));
        }

        fn read_into(&self, book: &mut Book, budgets: &Budgets, now: i64) {
            let since = |b: Option<Period>| b.map_or(i64::MAX, |per| per.window(now).0);
            let (usd_from, tokens_from) = (since(budgets.usd.map(|b| b.per)), since(budgets.tokens.map(|b| b.per)));
            let usd = self.0.iter().filter(|r| r.0 >= usd_from).map(|r| r.1).sum();
            let tokens = self.0.iter().filter(|r| r.0 >= tokens_from).map(|r| r.2).sum();
            book.set_spent(budgets, now, usd, tokens);
        }

        fn reserve(&self, book: &mut Book, budgets: &Budgets, worst: Amount, now: i64) -> Result<(u64, Remaining), BudgetRefusal> {
            self.read_into(book, budgets, now);
            book.reserve(budgets, worst, now)
        }

        fn remaining(&self, book: &mut Book, budgets: &Budgets, now: i64) -> Remaining {
            self.read_into(book, budgets, now);
            book.remaining(budgets, now)
        }
    }

    #[test]
    fn a_budget_that_fits_n_requests_lets_n_through_then_refuses() {
        // Each request really costs 30 tokens; its worst case is 54.
        let budgets = tokens(150, Period::Day);
        let (mut book, mut rows) = (Book::default(), Rows::default());
        for n in 0..5 {
            let (id, _) = rows.reserve(&mut book, &budgets, amount(0.0, 54), NOW + n).expect("fits");
            rows.settle(&mut book, id, amount(0.0, 30));
        }
        let refused = rows.reserve(&mut book, &budgets, amount(0.0, 54), NOW + 9).unwrap_err();
        assert_eq!(book.tokens_spent.tokens, 150);
        assert!(matches!(refused, BudgetRefusal::TokensExhausted { .. }));
        assert!(refused.message().contains("150 tokens per day is used up. It resets at 2026-12-02T00:00:00Z"));
    }

    #[test]
    fn concurrent_reservations_stop_at_the_budget() {
        let budgets = usd(1.0, Period::Month);
        let (mut book, mut rows) = (Book::default(), Rows::default());
        let admitted: Vec<u64> = (0..50).filter_map(|_| rows.reserve(&mut book, &budgets, amount(0.3, 10), NOW).ok().map(|(id, _)| id)).collect();
        // 0.3 + 0.3 + 0.3 + 0.1 (cut to what was left), then nothing is left.
        assert_eq!(admitted.len(), 4);
        for id in admitted {
            rows.settle(&mut book, id, amount(0.2, 10));
        }
        assert!(rows.reserve(&mut book, &budgets, amount(0.3, 10), NOW + 2).is_ok(), "0.2 is left once everything settled");
        assert!((book.usd_spent.usd - 0.8).abs() < 1e-9);
    }

    #[test]
    fn taking_a_reservation_out_unspent_gives_it_back() {
        let budgets = tokens(100, Period::Total);
        let (mut book, rows) = (Book::default(), Rows::default());
        let (id, left) = rows.reserve(&mut book, &budgets, amount(0.0, 100), NOW).unwrap();
        assert_eq!(left.tokens, Some(0));
        assert!(rows.reserve(&mut book, &budgets, amount(0.0, 1), NOW).is_err());
        assert!(book.take(id).is_some());
        assert_eq!(rows.remaining(&mut book, &budgets, NOW).tokens, Some(100));
        assert_eq!(book.tokens_spent.tokens, 0);
    }

    #[test]
    fn the_period_rolls_over() {
        let budgets = tokens(10, Period::Day);
        let (mut book, mut rows) = (Book::default(), Rows::default());
        let (id, _) = rows.reserve(&mut book, &budgets, amount(0.0, 10), NOW).unwrap();
        rows.settle(&mut book, id, amount(0.0, 10));
        assert!(rows.reserve(&mut book, &budgets, amount(0.0, 1), NOW + 86_399).is_err());
        assert_eq!(rows.remaining(&mut book, &budgets, NOW + 86_400).tokens, Some(10));
        assert!(rows.reserve(&mut book, &budgets, amount(0.0, 1), NOW + 86_400).is_ok());
    }

    #[test]
    fn a_request_settled_after_its_period_ended_does_not_count_in_the_new_one() {
        let budgets = tokens(10, Period::Day);
        let (mut book, mut rows) = (Book::default(), Rows::default());
        let (id, _) = rows.reserve(&mut book, &budgets, amount(0.0, 5), NOW + 86_399).unwrap();
        rows.settle(&mut book, id, amount(0.0, 5));
        assert_eq!(rows.remaining(&mut book, &budgets, NOW + 86_401).tokens, Some(10));
    }

    #[test]
    fn an_unpriced_model_is_refused_under_a_dollar_budget_only() {
        let unpriced = Amount { usd: None, tokens: 10 };
        let mut book = Book::default();
        assert_eq!(book.reserve(&usd(5.0, Period::Day), unpriced, NOW).unwrap_err(), BudgetRefusal::Unpriced);
        assert!(BudgetRefusal::Unpriced.message().contains("no price"));
        assert!(book.reserve(&tokens(100, Period::Day), unpriced, NOW).is_ok());
    }

    #[test]
    fn stale_reservations_expire() {
        let budgets = tokens(10, Period::Total);
        let mut book = Book::default();
        book.reserve(&budgets, amount(0.0, 10), NOW).unwrap();
        assert!(book.reserve(&budgets, amount(0.0, 1), NOW + RESERVATION_TTL_SECS - 1).is_err());
        assert!(book.reserve(&budgets, amount(0.0, 1), NOW + RESERVATION_TTL_SECS).is_ok());
    }

    #[test]
    fn both_budgets_apply_with_their_own_periods() {
        let budgets = Budgets { usd: Some(UsdBudget { usd: 1.0, per: Period::Month }), tokens: Some(TokenBudget { tokens: 20, per: Period::Day }) };
        let (mut book, mut rows) = (Book::default(), Rows::default());
        let (id, left) = rows.reserve(&mut book, &budgets, amount(0.1, 15), NOW).unwrap();
        assert_eq!(left.tokens, Some(5));
        assert!((left.usd.unwrap() - 0.9).abs() < 1e-9);
        rows.settle(&mut book, id, amount(0.1, 20));
        assert!(matches!(rows.reserve(&mut book, &budgets, amount(0.1, 1), NOW).unwrap_err(), BudgetRefusal::TokensExhausted { .. }));
        let next_day = rows.reserve(&mut book, &budgets, amount(0.1, 1), NOW + 86_400).unwrap().1;
        assert!((next_day.usd.unwrap() - 0.8).abs() < 1e-9, "the month's dollars carry over: {next_day:?}");
    }
}
