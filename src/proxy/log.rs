//! Glue: the only way the proxy writes a log line. Each line is the JSON that
//! [`RequestLog::line`] builds, written to the console, which is what `wrangler tail` and Workers
//! Logs read.

use worker::web_sys::console;

use crate::proxy::request_log::{format_generated_id, request_id, Level, RequestLog};

impl RequestLog {
    /// The log of one request, identified by its `cf-ray` (or a random id where there is none).
    pub fn for_request(cf_ray: Option<&str>) -> Self {
        let random = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
        RequestLog::new(request_id(cf_ray, || format_generated_id(random() << 32 | random())))
    }

    pub fn info(&self, event: &str, status: Option<u16>, detail: &str) {
        console::log_1(&self.line(Level::Info, event, status, detail).into());
    }

    pub fn warn(&self, event: &str, status: Option<u16>, detail: &str) {
        console::warn_1(&self.line(Level::Warn, event, status, detail).into());
    }

    pub fn error(&self, event: &str, detail: &str) {
        console::error_1(&self.line(Level::Error, event, None, detail).into());
    }
}
