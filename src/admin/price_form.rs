//! The dashboard's price-override form: what the operator typed, and every problem with it at its
//! input. The checks are the price API's own (`valid_model_name`, `prices::validate`), applied one
//! field at a time, so the form and `PUT /admin/api/prices/{model}` accept the same prices.

use crate::admin::form_check::{FieldProblem, FieldProblems};
use crate::common::urlencoded;
use crate::usage::prices::{self, valid_model_name, Price};

/// The inputs in the order they appear, with their names on the page.
const INPUTS: [(&str, &str); 5] =
    [("model", "Model"), ("input", "Input"), ("cached_input", "Cached input"), ("cache_write", "Cache write"), ("output", "Output")];

#[derive(Default)]
pub struct PriceForm {
    pub model: String,
    pub input: String,
    pub cached_input: String,
    pub cache_write: String,
    pub output: String,
    pub errors: Vec<FieldProblem>,
}

/// One override as the table shows it (USD per million tokens; "—" when not set).
pub struct PriceRow {
    pub model: String,
    pub input: String,
    pub cached_input: String,
    pub cache_write: String,
    pub output: String,
}

fn usd(v: f64) -> String {
    format!("${v}")
}

impl PriceRow {
    pub fn new(model: &str, p: &Price) -> Self {
        let opt = |v: Option<f64>| v.map_or_else(|| "—".to_string(), usd);
        PriceRow { model: model.to_string(), input: usd(p.input), cached_input: opt(p.cached_input), cache_write: opt(p.cache_write), output: usd(p.output) }
    }
}

/// The overrides sorted by model, for the table.
pub fn rows(overrides: &std::collections::HashMap<String, Price>) -> Vec<PriceRow> {
    let mut rows: Vec<PriceRow> = overrides.iter().map(|(m, p)| PriceRow::new(m, p)).collect();
    rows.sort_by(|a, b| a.model.cmp(&b.model));
    rows
}

impl PriceForm {
    pub fn from_fields(fields: &[(String, String)]) -> Self {
        let get = |name: &str| urlencoded::first(fields, name).unwrap_or_default().trim().to_string();
        PriceForm { model: get("model"), input: get("input"), cached_input: get("cached_input"), cache_write: get("cache_write"), output: get("output"), errors: Vec::new() }
    }

    /// The model and price the form stands for, or every problem with it (the form then keeps them).
    pub fn check(&mut self) -> Option<(String, Price)> {
        let mut errors = Vec::new();
        if !valid_model_name(&self.model) {
            errors.push(FieldProblem {
                field: "model",
                message: "Model must be a model name of at most 100 letters, digits and - . _ : / @, such as gpt-4o-mini.".into(),
            });
        }
        let mut number = |field: &'static str, text: &str, required: bool| -> Option<f64> {
            let name = INPUTS.iter().find(|(f, _)| *f == field).map_or(field, |(_, n)| *n);
            if text.is_empty() {
                if required {
                    errors.push(FieldProblem { field, message: format!("{name} is required: USD per million tokens, such as 0.15.") });
                }
                return None;
            }
            let Ok(v) = text.parse::<f64>() else {
                errors.push(FieldProblem { field, message: format!("{name} must be a number of USD per million tokens, such as 0.15.") });
                return None;
            };
            // The API's own range check, on a price that holds only this value.
            let mut alone = Price { input: 0.0, cached_input: None, cache_write: None, output: 0.0, tier: None };
            match field {
                "input" => alone.input = v,
                "output" => alone.output = v,
                "cached_input" => alone.cached_input = Some(v),
                _ => alone.cache_write = Some(v),
            }
            if let Err(m) = prices::validate(&alone) {
                errors.push(FieldProblem { field, message: format!("{name}{}.", m.split_once('`').and_then(|(_, r)| r.split_once('`')).map_or(m.as_str(), |(_, r)| r)) });
                return None;
            }
            Some(v)
        };
        let input = number("input", &self.input.clone(), true);
        let cached_input = number("cached_input", &self.cached_input.clone(), false);
        let cache_write = number("cache_write", &self.cache_write.clone(), false);
        let output = number("output", &self.output.clone(), true);
        self.errors = errors;
        match (self.errors.is_empty(), input, output) {
            (true, Some(input), Some(output)) => Some((self.model.clone(), Price { input, cached_input, cache_write, output, tier: None })),
            _ => None,
        }
    }

    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.error(field)
    }

    pub fn invalid(&self, field: &str) -> bool {
        self.errors.invalid(field)
    }

    pub fn focus(&self, field: &str) -> bool {
        self.errors.focus(field)
    }

    pub fn described_by(&self, field: &str) -> String {
        self.errors.described_by(field)
    }

    pub fn error_count(&self) -> String {
        self.errors.error_count()
    }

    pub fn anchor(&self, field: &str) -> String {
        field.to_string()
    }

    /// The rate inputs for the template: (name, label, value, placeholder, hint).
    pub fn inputs(&self) -> [(&'static str, &'static str, &str, &'static str, &'static str); 4] {
        [
            ("input", "Input", &self.input, "such as 2.5", "Required."),
            ("cached_input", "Cached input", &self.cached_input, "optional", "Empty: cached input is charged as input."),
            ("cache_write", "Cache write", &self.cache_write, "optional", "Empty: cache writes are charged as input."),
            ("output", "Output", &self.output, "such as 10", "Required."),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> PriceForm {
        PriceForm::from_fields(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn a_good_form_is_the_price_the_api_would_store() {
        let mut f = form(&[("model", "my-model"), ("input", "2.5"), ("cached_input", ""), ("cache_write", "3"), ("output", " 10 ")]);
        let (model, price) = f.check().unwrap();
        assert_eq!(model, "my-model");
        assert_eq!(price, Price { input: 2.5, cached_input: None, cache_write: Some(3.0), output: 10.0, tier: None });
        assert!(f.errors.is_empty());
    }

    #[test]
    fn every_bad_input_is_named_at_its_field_in_form_order() {
        let mut f = form(&[("model", "<b>x</b>"), ("input", "abc"), ("cached_input", "-1"), ("output", "")]);
        assert!(f.check().is_none());
        let fields: Vec<&str> = f.errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["model", "input", "cached_input", "output"]);
        assert_eq!(f.error("cached_input"), Some("Cached input must be a number of USD per million tokens between 0 and 100000."));
        assert!(f.focus("model") && !f.focus("input"));
        assert_eq!(f.described_by("output"), "output-error output-hint");
        // What was typed is kept, to be corrected.
        assert_eq!(f.input, "abc");
    }

    #[test]
    fn the_range_is_the_apis() {
        let mut f = form(&[("model", "m"), ("input", "100001"), ("output", "inf")]);
        assert!(f.check().is_none());
        assert!(f.error("input").unwrap().contains("between 0 and 100000"));
        assert!(f.error("output").unwrap().contains("between 0 and 100000"));
    }

    #[test]
    fn rows_are_sorted_and_unset_rates_show_a_dash() {
        let overrides = std::collections::HashMap::from([
            ("b".to_string(), Price { input: 1.0, cached_input: None, cache_write: None, output: 2.0, tier: None }),
            ("a".to_string(), Price { input: 0.15, cached_input: Some(0.075), cache_write: None, output: 0.6, tier: None }),
        ]);
        let r = rows(&overrides);
        assert_eq!(r.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!((r[0].input.as_str(), r[0].cached_input.as_str(), r[0].cache_write.as_str()), ("$0.15", "$0.075", "—"));
    }
}
