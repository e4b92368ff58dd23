//! A token's guard, kept in its ledger object: what the admin last said of the token (its
//! standing and limits), its rate-limit window and its budget book. One call decides a request
//! against all three, in one step of the object, so two requests never both take the last unit
//! of a limit and a revoked token is refused at every location the moment the admin has said so.

use serde::{Deserialize, Serialize};

use super::book::{Amount, Book, BudgetRefusal, Budgets, Remaining, Reservation, TokenBudget, UsdBudget};
use super::period::Period;
use crate::common::timestamp::format_rfc3339;
use crate::policy::fixed_window::{self, Decision, Window};
use crate::policy::rules::{Policy, RateLimit};
use crate::usage::ledger::Entry;
use crate::usage::format::fixed_trimmed;
use crate::usage::prices::PICO;

/// The limits a token's object enforces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub budgets: Budgets,
}

impl Limits {
    pub fn of(policy: &Policy) -> Limits {
        Limits { rate_limit: policy.rate_limit, budgets: policy.budgets() }
    }

    /// A token with none makes no call to its object: its requests cost nothing extra.
    pub fn any(&self) -> bool {
        self.rate_limit.is_some() || !self.budgets.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    Active,
    Disabled,
    Deleted,
}

/// What the admin last told the object, before its write reached KV.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Told {
    pub standing: Standing,
    pub limits: Limits,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    pub told: Option<Told>,
    pub window: Window,
    /// The window length `window` counts in: a changed limit length starts a fresh count.
    pub window_secs: u32,
    pub book: Book,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "refused", rename_all = "snake_case")]
pub enum Refused {
    Disabled,
    Deleted,
    RateLimited { limit: RateLimit },
    /// A budget is used up; the message says which and when it resets.
    Budget { message: String },
    /// A dollar budget cannot meter the request's model: it has no price.
    Unpriced { message: String },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub refused: Option<Refused>,
    /// The rate-limit count after this request, for the `x-ratelimit-*` headers.
    pub rate: Option<Decision>,
    /// The reservation to settle or release, when a budget reserved one.
    pub reservation: Option<u64>,
    pub remaining: Remaining,
}

impl Verdict {
    fn refused(refused: Refused, rate: Option<Decision>) -> Verdict {
        Verdict { refused: Some(refused), rate, ..Verdict::default() }
    }
}

/// Where each budget's current period starts (Unix seconds), for summing the ledger's rows.
pub fn period_starts(budgets: &Budgets, now: i64) -> (Option<i64>, Option<i64>) {
    (budgets.usd.map(|b| b.per.window(now).0), budgets.tokens.map(|b| b.per.window(now).0))
}

impl Guard {
    /// The admin's word wins over the request's copy of the record, which may be up to the
    /// record cache's age old.
    pub fn limits(&self, asked: Limits) -> Limits {
        self.told.map_or(asked, |t| t.limits)
    }

    /// The admin disabled or deleted the token.
    fn revoked(&self) -> Option<Refused> {
        match self.told?.standing {
            Standing::Active => None,
            Standing::Disabled => Some(Refused::Disabled),
            Standing::Deleted => Some(Refused::Deleted),
        }
    }

    /// Decides one request. `worst`: the reservation to make; `None` reserves nothing and only
    /// needs something left (a WebSocket session). The book's spend must have been set from the
    /// ledger (`Book::set_spent`) for `now` first.
    pub fn admit(&mut self, asked: Limits, worst: Option<Amount>, now: i64) -> Verdict {
        if let Some(revoked) = self.revoked() {
            return Verdict::refused(revoked, None);
        }
        let limits = self.limits(asked);
        // The count is only kept if the budget admits the request too: a refused request uses
        // neither.
        let mut counted = None;
        if let Some(limit) = limits.rate_limit {
            let stored = if self.window_secs == limit.per_seconds { self.window } else { Window::default() };
            let (decision, window) = fixed_window::hit(stored, limit.requests, limit.per_seconds.into(), now.max(0) as u64, 1);
            if !decision.allowed {
                return Verdict::refused(Refused::RateLimited { limit }, Some(decision));
            }
            counted = Some((decision, window, limit.per_seconds));
        }
        let budgets = limits.budgets;
        let mut reservation = None;
        let remaining = if budgets.is_empty() {
            Remaining::default()
        } else {
            let admitted = match worst {
                Some(worst) => self.book.reserve(&budgets, worst, now).map(|(id, left)| {
                    reservation = Some(id);
                    left
                }),
                None => self.book.check(&budgets, now),
            };
            match admitted {
                Ok(left) => left,
                Err(refusal @ BudgetRefusal::Unpriced) => return Verdict::refused(Refused::Unpriced { message: refusal.message() }, None),
                Err(refusal) => {
                    let remaining = self.book.remaining(&budgets, now);
                    return Verdict { remaining, ..Verdict::refused(Refused::Budget { message: refusal.message() }, None) };
                }
            }
        };
        let rate = counted.map(|(decision, window, secs)| {
            self.window = window;
            self.window_secs = secs;
            decision
        });
        Verdict { refused: None, rate, reservation, remaining }
    }
}

impl Guard {
    /// Whether a running WebSocket session may go on: the admin's word, and something left of
    /// every budget (its own usage is settled when it ends). Counts nothing.
    pub fn still_allowed(&mut self, asked: Limits, now: i64) -> Option<Refused> {
        if let Some(revoked) = self.revoked() {
            return Some(revoked);
        }
        let budgets = self.limits(asked).budgets;
        if budgets.is_empty() {
            return None;
        }
        self.book.check(&budgets, now).err().map(|r| Refused::Budget { message: r.message() })
    }
}

/// An answer the price table cannot price (it named another model than the one reserved for)
/// costs what its reservation held, so a dollar budget never lets it through free.
pub fn charge_unpriced(entry: &mut Entry, held: &Reservation) {
    if let (None, Some(usd)) = (entry.cost_pusd, held.held.usd) {
        entry.cost_pusd = Some((usd * PICO).round() as i64);
        entry.estimated = true;
    }
}

/// One budget as the dashboard and `/_proxy/usage` show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetLine {
    /// `usd` or `tokens`.
    pub unit: String,
    pub limit: f64,
    pub per: Period,
    /// Settled spend in the current period.
    pub spent: f64,
    /// Held by requests still running.
    pub held: f64,
    pub left: f64,
    /// When the period ends (RFC 3339), `None` for a total budget.
    pub resets_at: Option<String>,
}

/// Each budget's line, from the book (with its spend set from the ledger for `now`).
pub fn lines(book: &Book, budgets: &Budgets, now: i64) -> Vec<BudgetLine> {
    let mut out = Vec::new();
    let resets = |per: Period| per.window(now).1.map(format_rfc3339);
    if let Some(UsdBudget { usd, per }) = budgets.usd {
        let spent = book.usd_spent.usd;
        let held = book.held_in(per, now).usd.unwrap_or(0.0);
        out.push(BudgetLine { unit: "usd".into(), limit: usd, per, spent, held, left: (usd - spent - held).max(0.0), resets_at: resets(per) });
    }
    if let Some(TokenBudget { tokens, per }) = budgets.tokens {
        let spent = book.tokens_spent.tokens as f64;
        let held = book.held_in(per, now).tokens as f64;
        out.push(BudgetLine { unit: "tokens".into(), limit: tokens as f64, per, spent, held, left: (tokens as f64 - spent - held).max(0.0), resets_at: resets(per) });
    }
    out
}

/// What is left of each budget, as the answer's `x-api-proxy-budget-remaining-*`.
pub fn remaining_headers(remaining: &Remaining) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(usd) = remaining.usd {
        out.push(("x-api-proxy-budget-remaining-usd", fixed_trimmed(usd, 6)));
    }
    if let Some(tokens) = remaining.tokens {
        out.push(("x-api-proxy-budget-remaining-tokens", tokens.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_083_200; // 2026-12-01T00:00:00Z

    fn tokens(n: u64) -> Limits {
        Limits { rate_limit: None, budgets: Budgets { usd: None, tokens: Some(TokenBudget { tokens: n, per: Period::Day }) } }
    }

    fn worst(t: u64) -> Option<Amount> {
        Some(Amount { usd: Some(0.0), tokens: t })
    }

    #[test]
    fn the_admins_word_refuses_at_once_and_wins_over_the_requests_limits() {
        let mut g = Guard::default();
        assert!(g.admit(tokens(100), worst(10), NOW).refused.is_none());
        g.told = Some(Told { standing: Standing::Disabled, limits: tokens(100) });
        assert_eq!(g.admit(tokens(100), worst(10), NOW).refused, Some(Refused::Disabled));
        g.told = Some(Told { standing: Standing::Deleted, limits: tokens(100) });
        assert_eq!(g.admit(tokens(100), worst(10), NOW).refused, Some(Refused::Deleted));
        // Active again, with a smaller budget than the request's stale copy says.
        g.told = Some(Told { standing: Standing::Active, limits: tokens(15) });
        let v = g.admit(tokens(1000), worst(10), NOW);
        assert_eq!(v.remaining.tokens, Some(0), "15 - 10 already held - 5 cut: {v:?}");
    }

    #[test]
    fn a_request_the_budget_refuses_is_not_counted_by_the_rate_limit() {
        let mut g = Guard::default();
        let limits = Limits { rate_limit: Some(RateLimit { requests: 2, per_seconds: 60 }), ..tokens(10) };
        let first = g.admit(limits, worst(10), NOW);
        assert_eq!(first.rate.unwrap().remaining, 1);
        let refused = g.admit(limits, worst(10), NOW);
        assert!(matches!(refused.refused, Some(Refused::Budget { .. })), "{refused:?}");
        g.book.take(first.reservation.unwrap());
        assert_eq!(g.admit(limits, worst(1), NOW).rate.unwrap().remaining, 0, "the refused one did not count");
        let limited = g.admit(limits, worst(1), NOW);
        assert_eq!(limited.refused, Some(Refused::RateLimited { limit: limits.rate_limit.unwrap() }));
    }

    #[test]
    fn a_changed_window_length_starts_a_fresh_count() {
        let mut g = Guard::default();
        let per_minute = Limits { rate_limit: Some(RateLimit { requests: 1, per_seconds: 60 }), budgets: Budgets::default() };
        assert!(g.admit(per_minute, None, NOW).refused.is_none());
        assert!(g.admit(per_minute, None, NOW).refused.is_some());
        let per_hour = Limits { rate_limit: Some(RateLimit { requests: 1, per_seconds: 3600 }), budgets: Budgets::default() };
        assert!(g.admit(per_hour, None, NOW).refused.is_none());
    }

    #[test]
    fn a_session_that_reserves_nothing_needs_something_left() {
        let mut g = Guard::default();
        let limits = tokens(10);
        let v = g.admit(limits, None, NOW);
        assert_eq!((v.reservation, v.remaining.tokens), (None, Some(10)));
        g.book.set_spent(&limits.budgets, NOW, 0.0, 10);
        assert!(matches!(g.admit(limits, None, NOW).refused, Some(Refused::Budget { .. })));
    }

    #[test]
    fn a_session_goes_on_while_its_token_stands_and_its_budget_has_something_left() {
        let mut g = Guard::default();
        let limits = tokens(10);
        assert_eq!(g.still_allowed(limits, NOW), None);
        g.book.set_spent(&limits.budgets, NOW, 0.0, 10);
        assert!(matches!(g.still_allowed(limits, NOW), Some(Refused::Budget { .. })));
        g.told = Some(Told { standing: Standing::Deleted, limits });
        assert_eq!(g.still_allowed(limits, NOW), Some(Refused::Deleted));
    }

    #[test]
    fn lines_show_spent_held_and_left_with_the_reset() {
        let mut g = Guard::default();
        let budgets = Budgets { usd: Some(UsdBudget { usd: 2.0, per: Period::Month }), tokens: Some(TokenBudget { tokens: 100, per: Period::Total }) };
        let limits = Limits { rate_limit: None, budgets };
        g.book.set_spent(&budgets, NOW, 0.5, 40);
        g.admit(limits, Some(Amount { usd: Some(0.25), tokens: 10 }), NOW);
        let lines = lines(&g.book, &budgets, NOW);
        assert_eq!((lines[0].spent, lines[0].held, lines[0].left), (0.5, 0.25, 1.25));
        assert_eq!(lines[0].resets_at.as_deref(), Some("2027-01-01T00:00:00Z"));
        assert_eq!((lines[1].spent, lines[1].held, lines[1].left, lines[1].resets_at.clone()), (40.0, 10.0, 50.0, None));
    }

    #[test]
    fn an_unpriced_answer_costs_what_was_held() {
        let mut entry = Entry {
            at: NOW,
            provider: "openai".into(),
            model: "gpt-4o-2099-01-01".into(),
            kind: "chat".into(),
            status: "2xx".into(),
            tokens: Default::default(),
            cost_pusd: None,
            estimated: false,
            partial: false,
        };
        let held = Reservation { id: 0, at: NOW, held: Amount { usd: Some(0.4), tokens: 10 } };
        charge_unpriced(&mut entry, &held);
        assert_eq!((entry.cost_pusd, entry.estimated), (Some(400_000_000_000), true));
        // A priced answer keeps its own cost.
        let mut priced = Entry { cost_pusd: Some(7), estimated: false, ..entry };
        charge_unpriced(&mut priced, &held);
        assert_eq!((priced.cost_pusd, priced.estimated), (Some(7), false));
    }

    #[test]
    fn remaining_headers_are_plain_numbers() {
        let h = remaining_headers(&Remaining { usd: Some(24.5), tokens: Some(7) });
        assert_eq!(h, vec![("x-api-proxy-budget-remaining-usd", "24.5".into()), ("x-api-proxy-budget-remaining-tokens", "7".into())]);
        assert_eq!(remaining_headers(&Remaining { usd: Some(0.0), tokens: None })[0].1, "0");
    }
}
