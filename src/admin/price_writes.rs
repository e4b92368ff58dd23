//! Price-override writes, applied by `AdminState` one at a time like token writes (issue 14: no
//! concurrent change may undo another, and each is audited). This module is the pure part: what a
//! write says, and the overrides it leaves behind. AdminState keeps the authoritative overrides in
//! its SQLite and writes the whole map to the KV key the proxy reads (`usage:prices`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::usage::prices::Price;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PriceWrite {
    Set { model: String, price: Price },
    Remove { model: String },
}

impl PriceWrite {
    pub fn model(&self) -> &str {
        match self {
            PriceWrite::Set { model, .. } | PriceWrite::Remove { model } => model,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PriceOutcome {
    Done,
    /// A removal of a model that has no override.
    NotFound,
    Unavailable { message: String },
}

/// The override before the write, and the overrides after it; `None` when there is nothing to do
/// (removing an override that does not exist).
pub fn apply(current: &HashMap<String, Price>, write: &PriceWrite) -> Option<(Option<Price>, HashMap<String, Price>)> {
    let before = current.get(write.model()).copied();
    let mut after = current.clone();
    match write {
        PriceWrite::Set { model, price } => {
            after.insert(model.clone(), *price);
        }
        PriceWrite::Remove { model } => {
            after.remove(model)?;
        }
    }
    Some((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(input: f64) -> Price {
        Price { input, cached_input: None, cache_write: None, output: 2.0 * input, tier: None }
    }

    #[test]
    fn a_set_keeps_the_other_models() {
        let current = HashMap::from([("a".to_string(), price(1.0))]);
        let (before, after) = apply(&current, &PriceWrite::Set { model: "b".into(), price: price(3.0) }).unwrap();
        assert_eq!(before, None);
        assert_eq!(after, HashMap::from([("a".to_string(), price(1.0)), ("b".to_string(), price(3.0))]));
    }

    #[test]
    fn a_set_reports_the_price_it_replaced() {
        let current = HashMap::from([("a".to_string(), price(1.0))]);
        let (before, after) = apply(&current, &PriceWrite::Set { model: "a".into(), price: price(5.0) }).unwrap();
        assert_eq!(before, Some(price(1.0)));
        assert_eq!(after["a"], price(5.0));
    }

    #[test]
    fn removing_drops_only_that_model_and_a_missing_one_is_nothing_to_do() {
        let current = HashMap::from([("a".to_string(), price(1.0)), ("b".to_string(), price(2.0))]);
        let (before, after) = apply(&current, &PriceWrite::Remove { model: "a".into() }).unwrap();
        assert_eq!(before, Some(price(1.0)));
        assert_eq!(after, HashMap::from([("b".to_string(), price(2.0))]));
        assert_eq!(apply(&current, &PriceWrite::Remove { model: "c".into() }), None);
    }
}
