//! Small helpers every concern uses: RFC 3339 times, form and query decoding, field errors.

pub mod field_error;
pub mod timestamp;
pub mod urlencoded;
