//! Spend limits per token (issue 11): dollar and token budgets per UTC day, month or in total,
//! held without overshoot by reserving each request's worst case before the call and settling it
//! to the real usage afterwards. This is the arithmetic; the token's ledger object
//! (`usage::ledger_object`) keeps the state, and the proxy reserves and settles through it.

pub mod book;
pub mod estimate;
pub mod guard;
pub mod period;
