//! The isolate's provider table. The Worker installs it once, from its vars, on the first request;
//! until then (and on the host, in unit tests) it is the built-in rows alone. Vars cannot change
//! within an isolate (a new deployment starts new isolates), so installing once is enough.

use std::sync::OnceLock;

use crate::upstream::table::{ProviderSpec, Table, BUILT_IN};

static TABLE: OnceLock<Table> = OnceLock::new();
static BUILT_IN_TABLE: OnceLock<Table> = OnceLock::new();

/// Installs the table built from `extra` (the `EXTRA_PROVIDERS` var) unless one is installed
/// already; returns the problems found when this call installed it (to log them once).
pub fn install(extra: Option<&str>) -> Vec<String> {
    let mut fresh = false;
    let table = TABLE.get_or_init(|| {
        fresh = true;
        Table::with_extra(extra)
    });
    if fresh {
        table.problems.clone()
    } else {
        Vec::new()
    }
}

/// Whether this isolate's table is built (so the var need not be read again).
pub fn installed() -> bool {
    TABLE.get().is_some()
}

pub fn table() -> &'static Table {
    TABLE.get().unwrap_or_else(|| BUILT_IN_TABLE.get_or_init(Table::built_in))
}

/// The row at `index`; an index from another table (impossible within one isolate) falls back to
/// the first row rather than panicking.
pub fn spec(index: usize) -> &'static ProviderSpec {
    table().specs.get(index).unwrap_or(&BUILT_IN[0])
}
