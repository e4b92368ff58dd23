//! Spend limits per token (issue 11): dollar and token budgets per UTC day, month or in total,
//! held without overshoot by reserving each request's worst case before the call and settling it
//! to the real usage afterwards. This is the arithmetic; the token's ledger object will keep the
//! state and the proxy will reserve and settle through it. Not wired in yet: no policy field
//! accepts a budget until the proxy enforces it.

pub mod book;
pub mod estimate;
pub mod period;
