//! Small helpers every concern uses: RFC 3339 times, form and query decoding, request URLs, field
//! errors.

pub mod field_error;
pub mod request_url;
pub mod timestamp;
pub mod urlencoded;
