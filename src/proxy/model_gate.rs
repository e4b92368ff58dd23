//! Glue: the body of a request whose token restricts models and whose path names none. Its
//! top-level `"model"` is found by [`ModelScanner`] while the bytes go on to the upstream, so the
//! Worker never holds more than a few chunks of it, whatever its size.
//!
//! - A body that ends within [`PREREAD_BYTES`] (nearly every chat request) is read, decided, and
//!   forwarded as those bytes, before the rate limit is counted or the upstream is called.
//! - A longer one is decided on the way: chunks are passed to the upstream as they are scanned,
//!   always one chunk behind, so the upstream never has the whole body before the model is
//!   allowed. A refusal aborts the upstream request (an incomplete body, then a reset), and the
//!   client gets the 403 or 413; no upstream answer can reach it first, as the proxy awaits the
//!   decision before the upstream's answer.
//!
//! Why not `tee()`: a tee feeds both branches from one pull, and queues without limit on the
//! branch that reads slower; and the upstream branch could carry the whole body, so a refused
//! model would still reach the provider complete. Here each chunk is written to the upstream only
//! after it is scanned, and the next is read only once the upstream has taken it: at most the
//! held-back chunk, the one being scanned and the one in the upstream pipe are in memory, plus a
//! 16 KiB scratch buffer in wasm and the scanner's few hundred bytes.

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::Context;
use worker::web_sys::{self, AbortController, AbortSignal, ReadableStream, ReadableStreamDefaultReader, WritableStreamDefaultWriter};

use crate::policy::model_scan::ModelScanner;
use crate::policy::rules::{Policy, PolicyRefusal, MAX_MODEL_BODY_BYTES};

/// A body that ends within this many bytes is decided before the upstream is called.
pub const PREREAD_BYTES: usize = 256 * 1024;
/// How much of a chunk is copied into wasm at a time.
const SLICE_BYTES: u32 = 16 * 1024;

pub enum GateError {
    Refused(PolicyRefusal),
    Unreadable,
}

/// What to send upstream.
pub enum Gated {
    /// The whole body, read and allowed.
    Whole(Uint8Array),
    /// The start of a longer body; [`Streaming::run`] sends the rest once the upstream is called.
    Streaming(Streaming),
}

pub struct Streaming {
    source: ReadableStream,
    reader: ReadableStreamDefaultReader,
    scanner: ModelScanner,
    scratch: Vec<u8>,
    read: Vec<Uint8Array>,
    total: usize,
    writer: WritableStreamDefaultWriter,
    upstream_body: ReadableStream,
    abort: AbortController,
}

/// Reads up to [`PREREAD_BYTES`] of `body`, refusing as soon as the model is known to be refused.
pub async fn open(body: ReadableStream, policy: &Policy) -> Result<Gated, GateError> {
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut scanner = ModelScanner::new();
    let mut scratch = vec![0u8; SLICE_BYTES as usize];
    let mut read = Vec::new();
    let mut total = 0;
    while total < PREREAD_BYTES {
        let Some(chunk) = next_chunk(&reader).await? else {
            reader.release_lock();
            policy.check_model(scanner.finish().as_deref()).map_err(GateError::Refused)?;
            return Ok(Gated::Whole(concat(&read, total)));
        };
        total += chunk.length() as usize;
        scan(&mut scanner, &chunk, &mut scratch);
        read.push(chunk);
        if let Err(refusal) = early_refusal(&scanner, policy, total) {
            discard(&body, &reader).await;
            return Err(GateError::Refused(refusal));
        }
    }
    let pipe = web_sys::TransformStream::new().map_err(|_| GateError::Unreadable)?;
    let writer = pipe.writable().get_writer().map_err(|_| GateError::Unreadable)?;
    let abort = AbortController::new().map_err(|_| GateError::Unreadable)?;
    Ok(Gated::Streaming(Streaming {
        source: body,
        reader,
        scanner,
        scratch,
        read,
        total,
        writer,
        upstream_body: pipe.readable(),
        abort,
    }))
}

impl Streaming {
    /// The stream the upstream `fetch` sends as its body.
    pub fn upstream_body(&self) -> &ReadableStream {
        &self.upstream_body
    }

    /// The signal the upstream `fetch` must carry, so a refusal cancels it.
    pub fn signal(&self) -> AbortSignal {
        self.abort.signal()
    }

    /// Passes the body on, chunk by chunk, one behind the scan; `Ok` once the model is allowed and
    /// the whole body is on its way (or the upstream stopped reading it, and its answer decides).
    pub async fn run(mut self, policy: &Policy) -> Result<(), GateError> {
        let mut held = self.read.pop();
        for chunk in std::mem::take(&mut self.read) {
            if !self.write(&chunk).await {
                return Ok(());
            }
        }
        loop {
            let chunk = match next_chunk(&self.reader).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Err(self.refuse(e).await),
            };
            self.total += chunk.length() as usize;
            scan(&mut self.scanner, &chunk, &mut self.scratch);
            if let Err(refusal) = early_refusal(&self.scanner, policy, self.total) {
                return Err(self.refuse(GateError::Refused(refusal)).await);
            }
            if let Some(previous) = held.replace(chunk) {
                if !self.write(&previous).await {
                    return Ok(());
                }
            }
        }
        let scanner = std::mem::take(&mut self.scanner);
        if let Err(refusal) = policy.check_model(scanner.finish().as_deref()) {
            return Err(self.refuse(GateError::Refused(refusal)).await);
        }
        if let Some(last) = held {
            self.write(&last).await;
        }
        let _ = JsFuture::from(self.writer.close()).await;
        Ok(())
    }

    /// Writes one chunk upstream, waiting until the upstream has taken it; `false` when it no
    /// longer reads (it answered or went away).
    async fn write(&self, chunk: &Uint8Array) -> bool {
        JsFuture::from(self.writer.write_with_chunk(chunk)).await.is_ok()
    }

    /// Cancels the upstream request and reads the rest of the client's body (in the runtime) so
    /// the client reads the refusal instead of a reset.
    async fn refuse(self, error: GateError) -> GateError {
        self.abort.abort();
        let _ = JsFuture::from(self.writer.abort()).await;
        discard(&self.source, &self.reader).await;
        error
    }
}

/// A refusal the body can no longer escape: not JSON, too long, or a first model that is refused
/// (a second model key could only make it "no model", another refusal).
fn early_refusal(scanner: &ModelScanner, policy: &Policy, total: usize) -> Result<(), PolicyRefusal> {
    if total > MAX_MODEL_BODY_BYTES {
        return Err(PolicyRefusal::BodyTooLarge);
    }
    if scanner.failed() {
        return policy.check_model(None);
    }
    match scanner.first_model() {
        Some(model) => policy.check_model(Some(model.strip_prefix("models/").unwrap_or(model))),
        None => Ok(()),
    }
}

async fn next_chunk(reader: &ReadableStreamDefaultReader) -> Result<Option<Uint8Array>, GateError> {
    let result = JsFuture::from(reader.read()).await.map_err(|_| GateError::Unreadable)?;
    let done = js_sys::Reflect::get(&result, &"done".into()).map_err(|_| GateError::Unreadable)?;
    if done.is_truthy() {
        return Ok(None);
    }
    let value = js_sys::Reflect::get(&result, &"value".into()).map_err(|_| GateError::Unreadable)?;
    value.dyn_into::<Uint8Array>().map(Some).map_err(|_| GateError::Unreadable)
}

/// Feeds a chunk to the scanner through a small buffer, so wasm memory does not grow with the
/// runtime's chunk size.
fn scan(scanner: &mut ModelScanner, chunk: &Uint8Array, scratch: &mut [u8]) {
    let length = chunk.length();
    let mut offset = 0;
    while offset < length && !scanner.failed() {
        let end = length.min(offset + SLICE_BYTES);
        let part = &mut scratch[..(end - offset) as usize];
        chunk.subarray(offset, end).copy_to(part);
        scanner.feed(part);
        offset = end;
    }
}

fn concat(chunks: &[Uint8Array], total: usize) -> Uint8Array {
    let bytes = Uint8Array::new_with_length(total as u32);
    let mut offset = 0;
    for chunk in chunks {
        bytes.set(chunk, offset);
        offset += chunk.length();
    }
    bytes
}

/// Reads the rest of a refused body to its end without keeping it; the bytes stay in the runtime.
async fn discard(body: &ReadableStream, reader: &ReadableStreamDefaultReader) {
    reader.release_lock();
    drain(body).await;
}

/// Reads a body to its end without keeping it, in the runtime (no byte enters wasm).
pub async fn drain(body: &ReadableStream) {
    if let Ok(sink) = web_sys::WritableStream::new() {
        let _ = JsFuture::from(body.pipe_to(&sink)).await;
    }
}

/// An answer sent at once, whose body stays open until `unread` (the request body, still
/// arriving) has been read to its end in the runtime. Closing the connection with the request
/// half-sent would reset it, and most clients then report the reset instead of the answer.
pub fn answer_while_draining(status: u16, json: &str, unread: ReadableStream, ctx: &Context) -> web_sys::Response {
    let (Ok(pipe), Ok(headers)) = (web_sys::TransformStream::new(), web_sys::Headers::new()) else {
        return crate::runtime::json_response(status, json);
    };
    let Ok(writer) = pipe.writable().get_writer() else {
        return crate::runtime::json_response(status, json);
    };
    let bytes = Uint8Array::from(json.as_bytes());
    ctx.wait_until(async move {
        let _ = JsFuture::from(writer.write_with_chunk(&bytes)).await;
        drain(&unread).await;
        let _ = JsFuture::from(writer.close()).await;
    });
    let _ = headers.set("content-type", "application/json");
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_readable_stream_and_init(Some(&pipe.readable()), &init)
        .unwrap_or_else(|_| crate::runtime::json_response(status, json))
}
