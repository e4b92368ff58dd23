//! An incremental Server-Sent Events splitter: fed the answer's bytes in whatever chunks the
//! network delivers, it yields whole events, so an event line split at any byte parses the same.
//!
//! Memory is bounded: one event may hold at most `max_event` bytes (field names and data). A
//! bigger event is skipped to its end and counted in `skipped`, never buffered. Lines end in LF,
//! CRLF or a lone CR, as the SSE specification allows; a CR at a chunk's end waits for the next
//! byte to see whether an LF follows.

/// The cap on one event: an OpenAI Responses `response.completed` event repeats the whole output,
/// so this is generous, and still bounds what one request can make the Worker hold.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, when the stream names its events (Anthropic, OpenAI Responses).
    pub name: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug)]
pub struct Splitter {
    max_event: usize,
    line: Vec<u8>,
    /// Bytes of the line being read, counted even while skipping (when `line` stays empty).
    line_len: usize,
    name: Option<String>,
    data: Vec<u8>,
    has_data: bool,
    /// Bytes the current event holds so far (lines kept plus the line being read).
    size: usize,
    /// The current event grew past the cap: drop everything until its blank line.
    skipping: bool,
    after_cr: bool,
    /// Events dropped for being over the cap.
    pub skipped: u32,
    /// Data events seen (whole ones; skipped ones are not counted here).
    pub events: u32,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter::new(MAX_EVENT_BYTES)
    }
}

impl Splitter {
    pub fn new(max_event: usize) -> Self {
        Splitter {
            max_event,
            line: Vec::new(),
            line_len: 0,
            name: None,
            data: Vec::new(),
            has_data: false,
            size: 0,
            skipping: false,
            after_cr: false,
            skipped: 0,
            events: 0,
        }
    }

    /// Feeds the next bytes; calls `on_event` for each event they complete, with the offset in
    /// `bytes` just past the line end that completed it.
    pub fn feed(&mut self, bytes: &[u8], on_event: &mut impl FnMut(Event, usize)) {
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b != b'\n' && b != b'\r' {
                continue;
            }
            let was_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            if b == b'\n' && was_cr && i == start && self.line_len == 0 {
                // The LF of a CRLF whose CR ended the previous line.
                start = i + 1;
                continue;
            }
            self.push_line_part(&bytes[start..i]);
            if let Some(event) = self.end_line() {
                on_event(event, i + 1);
            }
            start = i + 1;
        }
        if start < bytes.len() {
            self.after_cr = false;
            self.push_line_part(&bytes[start..]);
        }
    }

    /// The stream ended: an event without its closing blank line is not dispatched (the SSE rule),
    /// and reports whether bytes of an unfinished event were left over.
    pub fn finish(&mut self) -> bool {
        let leftover = !self.line.is_empty() || self.has_data || self.skipping;
        self.reset_event();
        self.line.clear();
        self.line_len = 0;
        leftover
    }

    fn push_line_part(&mut self, part: &[u8]) {
        self.line_len += part.len();
        if self.skipping {
            return;
        }
        self.size += part.len();
        if self.size > self.max_event {
            self.skip();
            return;
        }
        self.line.extend_from_slice(part);
    }

    fn skip(&mut self) {
        self.skipping = true;
        self.line = Vec::new();
        self.data = Vec::new();
        self.name = None;
        self.has_data = false;
    }

    fn end_line(&mut self) -> Option<Event> {
        let line_len = std::mem::take(&mut self.line_len);
        if line_len == 0 {
            return self.dispatch();
        }
        if self.skipping {
            return None;
        }
        let mut line = std::mem::take(&mut self.line);
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => {
                // A comment line (`: ping`).
                line.clear();
                self.line = line;
                return None;
            }
            Some(p) => {
                let value = &line[p + 1..];
                (&line[..p], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (&line[..], &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.name = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // id, retry and unknown fields carry no usage
        }
        // Keep the allocation for the next line.
        line.clear();
        self.line = line;
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        let mut event = None;
        if self.skipping {
            self.skipped += 1;
        } else if self.has_data {
            let data = String::from_utf8_lossy(&self.data).into_owned();
            self.events += 1;
            event = Some(Event { name: self.name.take(), data });
        }
        self.reset_event();
        event
    }

    fn reset_event(&mut self) {
        self.name = None;
        self.data.clear();
        self.has_data = false;
        self.size = 0;
        self.skipping = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&[u8]], max: usize) -> (Vec<Event>, u32) {
        let mut s = Splitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut |e, _| out.push(e));
        }
        (out, s.skipped)
    }

    fn ev(name: Option<&str>, data: &str) -> Event {
        Event { name: name.map(str::to_string), data: data.to_string() }
    }

    #[test]
    fn splits_lf_crlf_and_cr_streams_alike() {
        for sep in ["\n", "\r\n", "\r"] {
            let text = format!("event: a{sep}data: one{sep}data: two{sep}{sep}: comment{sep}data:three{sep}{sep}");
            let (events, _) = split_all(&[text.as_bytes()], 1000);
            assert_eq!(events, vec![ev(Some("a"), "one\ntwo"), ev(None, "three")], "separator {sep:?}");
        }
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let text = b"event: message_start\r\ndata: {\"a\":1}\r\n\r\nevent: ping\r\ndata: {}\r\n\r\ndata: x\n\n";
        let (whole, _) = split_all(&[text], 1000);
        assert_eq!(whole.len(), 3);
        for cut in 0..=text.len() {
            let (events, _) = split_all(&[&text[..cut], &text[cut..]], 1000);
            assert_eq!(events, whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(split_all(&bytes, 1000).0, whole);
    }

    #[test]
    fn an_event_over_the_cap_is_skipped_and_counted_and_the_next_one_still_parses() {
        let big = "x".repeat(100);
        let text = format!("data: {big}\ndata: {big}\n\ndata: small\n\n");
        let (events, skipped) = split_all(&[text.as_bytes()], 50);
        assert_eq!(events, vec![ev(None, "small")]);
        assert_eq!(skipped, 1);
        // One-byte chunks too: the cap holds while the event is still arriving.
        let bytes: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        assert_eq!(split_all(&bytes, 50), (vec![ev(None, "small")], 1));
    }

    #[test]
    fn an_event_without_its_blank_line_is_left_over_at_the_end() {
        let mut s = Splitter::new(100);
        let mut n = 0;
        s.feed(b"data: whole\n\ndata: cut", &mut |_, _| n += 1);
        assert_eq!(n, 1);
        assert!(s.finish());
        let mut s = Splitter::new(100);
        s.feed(b"data: whole\n\n", &mut |_, _| {});
        assert!(!s.finish());
    }

    #[test]
    fn a_name_without_data_is_not_an_event_and_does_not_leak_into_the_next() {
        let (events, _) = split_all(&[b"event: lonely\n\ndata: d\n\n"], 100);
        assert_eq!(events, vec![ev(None, "d")]);
    }
}
