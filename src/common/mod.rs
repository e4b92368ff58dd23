//! Small helpers every concern uses: RFC 3339 times, form and query decoding, field errors, a
//! request URL's path and query.

pub mod field_error;
pub mod request_target;
pub mod timestamp;
pub mod urlencoded;
