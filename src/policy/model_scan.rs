//! Finds the top-level `"model"` of a JSON body while its bytes go by, chunk by chunk, keeping only
//! the model string and a few bytes of state: a body of any size is checked in constant memory,
//! and a chunk boundary may fall anywhere, even inside an escape.
//!
//! It is a full JSON validator (RFC 8259), because the answer must not differ from what the
//! provider's parser reads. So:
//! - the model is found only at depth 1 (a `"model"` inside `messages` is text, not the model);
//! - keys and the value are unescaped before comparing (`"mod\u0065l"` is `model`);
//! - a key is a model key when it equals `model` ignoring ASCII case, as parsers that match field
//!   names loosely (Go's) would read it;
//! - two model keys give no model (one parser takes the first, another the last);
//! - anything that is not valid JSON gives no model, and neither does nesting deeper than
//!   [`MAX_DEPTH`] or a model longer than [`MAX_MODEL_LEN`] bytes.
//!
//! "No model" is a refusal for a token that restricts models, so every doubt refuses.

/// Nesting deeper than this is refused (serde_json's own default limit).
pub const MAX_DEPTH: usize = 128;
/// The longest model name kept; a longer one gives no model.
pub const MAX_MODEL_LEN: usize = 256;

const MODEL_KEY: &[u8] = b"model";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A value (the document, an object member's value, or an array element after a comma).
    Value,
    /// An array element or `]`, right after `[`.
    ValueOrClose,
    /// A key or `}`, right after `{`.
    KeyOrClose,
    /// A key, after a comma in an object.
    Key,
    /// `:` after a key.
    Colon,
    /// `,` or the closing bracket, after a value; at depth 0, only whitespace (the document ended).
    Next,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Number {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

impl Number {
    /// Whether the number may end here.
    fn complete(self) -> bool {
        matches!(self, Number::Zero | Number::Int | Number::Frac | Number::Exp)
    }

    /// The state after `b`; `None` when `b` is not part of the number.
    fn step(self, b: u8) -> Option<Number> {
        use Number::*;
        Some(match (self, b) {
            (Minus, b'0') => Zero,
            (Minus, b'1'..=b'9') | (Int, b'0'..=b'9') => Int,
            (Zero | Int, b'.') => Dot,
            (Dot | Frac, b'0'..=b'9') => Frac,
            (Zero | Int | Frac, b'e' | b'E') => E,
            (E, b'+' | b'-') => ESign,
            (E | ESign | Exp, b'0'..=b'9') => Exp,
            _ => return None,
        })
    }
}

/// What the string being read is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A depth-1 key: compared with `model`.
    TopKey,
    /// The value of a depth-1 model key: kept.
    Model,
    /// A deeper key: only validated.
    Key,
    /// Any other string value: only validated.
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lexeme {
    None,
    String { role: Role, escape: Escape },
    Number(Number),
    /// `true`, `false` or `null`: the word and how much of it has been read.
    Word(&'static [u8], usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After a backslash.
    Start,
    /// Inside `\uXXXX`: digits read so far and their value.
    Unicode(u8, u16),
}

/// The scanner. Feed it the body's bytes in order, then ask [`ModelScanner::finish`].
#[derive(Debug)]
pub struct ModelScanner {
    expect: Expect,
    lexeme: Lexeme,
    /// Open containers, innermost last: `true` for an object.
    stack: Vec<bool>,
    failed: bool,
    /// The depth-1 key being read, unescaped, up to one byte more than `model`.
    key: Vec<u8>,
    /// A high surrogate waiting for its low half, in a string being kept.
    high_surrogate: Option<u16>,
    /// Whether the value about to be read belongs to a model key.
    model_value_next: bool,
    model_keys: u32,
    /// The first model value, unescaped, while it is read and once it is complete.
    model: Vec<u8>,
    /// Set when the first model value was not a clean string of at most `MAX_MODEL_LEN` bytes.
    model_unusable: bool,
    model_complete: bool,
}

impl Default for ModelScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelScanner {
    pub fn new() -> Self {
        ModelScanner {
            expect: Expect::Value,
            lexeme: Lexeme::None,
            stack: Vec::new(),
            failed: false,
            key: Vec::new(),
            high_surrogate: None,
            model_value_next: false,
            model_keys: 0,
            model: Vec::new(),
            model_unusable: false,
            model_complete: false,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.failed {
                return;
            }
            self.byte(b);
        }
    }

    /// The body is not valid JSON (so far): the answer will be no model, whatever follows.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// The first top-level model, as soon as its string has been read. Lets a caller refuse a
    /// model it does not allow before the body ends; allowing it must wait for [`finish`], as a
    /// second model key may follow.
    ///
    /// [`finish`]: ModelScanner::finish
    pub fn first_model(&self) -> Option<&str> {
        if !self.model_complete || self.model_unusable {
            return None;
        }
        std::str::from_utf8(&self.model).ok()
    }

    /// The model, once the whole body has been fed: `Some` only for a complete, valid JSON object
    /// with exactly one model key whose value is a non-empty string. Gemini's `models/` prefix is
    /// dropped, as in its paths.
    pub fn finish(self) -> Option<String> {
        // A body still inside a lexeme (even a top-level number, which has no model) gives none.
        let done = !self.failed && self.stack.is_empty() && self.expect == Expect::Next && self.lexeme == Lexeme::None;
        if !done || self.model_keys != 1 {
            return None;
        }
        let model = self.first_model()?;
        let model = model.strip_prefix("models/").unwrap_or(model);
        (!model.is_empty()).then(|| model.to_string())
    }

    fn fail(&mut self) {
        self.failed = true;
    }

    fn byte(&mut self, b: u8) {
        match self.lexeme {
            Lexeme::String { role, escape } => self.string_byte(role, escape, b),
            Lexeme::Number(n) => match n.step(b) {
                Some(next) => self.lexeme = Lexeme::Number(next),
                None if n.complete() => {
                    self.lexeme = Lexeme::None;
                    self.expect = Expect::Next;
                    self.structural(b);
                }
                None => self.fail(),
            },
            Lexeme::Word(word, read) => {
                if word[read] != b {
                    return self.fail();
                }
                if read + 1 == word.len() {
                    self.lexeme = Lexeme::None;
                    self.expect = Expect::Next;
                } else {
                    self.lexeme = Lexeme::Word(word, read + 1);
                }
            }
            Lexeme::None => self.structural(b),
        }
    }

    fn structural(&mut self, b: u8) {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            return;
        }
        match self.expect {
            Expect::Value => self.value_start(b),
            Expect::ValueOrClose if b == b']' => self.close(false),
            Expect::ValueOrClose => self.value_start(b),
            Expect::KeyOrClose if b == b'}' => self.close(true),
            Expect::KeyOrClose | Expect::Key if b == b'"' => self.key_start(),
            Expect::Colon if b == b':' => self.expect = Expect::Value,
            Expect::Next => match (self.stack.last(), b) {
                (Some(true), b',') => self.expect = Expect::Key,
                (Some(false), b',') => self.expect = Expect::Value,
                (Some(true), b'}') => self.close(true),
                (Some(false), b']') => self.close(false),
                _ => self.fail(),
            },
            _ => self.fail(),
        }
    }

    fn key_start(&mut self) {
        let role = if self.stack.len() == 1 { Role::TopKey } else { Role::Key };
        self.key.clear();
        self.lexeme = Lexeme::String { role, escape: Escape::None };
    }

    fn value_start(&mut self, b: u8) {
        let for_model = std::mem::take(&mut self.model_value_next);
        if for_model && b != b'"' {
            self.model_unusable = true;
        }
        match b {
            b'{' | b'[' => self.open(b == b'{'),
            b'"' => {
                let role = if for_model { Role::Model } else { Role::Text };
                self.lexeme = Lexeme::String { role, escape: Escape::None };
            }
            b'-' => self.lexeme = Lexeme::Number(Number::Minus),
            b'0' => self.lexeme = Lexeme::Number(Number::Zero),
            b'1'..=b'9' => self.lexeme = Lexeme::Number(Number::Int),
            b't' => self.lexeme = Lexeme::Word(b"true", 1),
            b'f' => self.lexeme = Lexeme::Word(b"false", 1),
            b'n' => self.lexeme = Lexeme::Word(b"null", 1),
            _ => self.fail(),
        }
    }

    fn open(&mut self, object: bool) {
        if self.stack.len() >= MAX_DEPTH {
            return self.fail();
        }
        self.stack.push(object);
        self.expect = if object { Expect::KeyOrClose } else { Expect::ValueOrClose };
    }

    fn close(&mut self, object: bool) {
        if self.stack.pop() != Some(object) {
            return self.fail();
        }
        self.expect = Expect::Next;
    }

    fn string_byte(&mut self, role: Role, escape: Escape, b: u8) {
        let set = |s: &mut Self, escape| s.lexeme = Lexeme::String { role, escape };
        match escape {
            Escape::None => match b {
                b'"' => self.string_end(role),
                b'\\' => set(self, Escape::Start),
                0x00..=0x1f => self.fail(),
                _ => self.keep_byte(role, b),
            },
            Escape::Start => {
                let unescaped = match b {
                    b'"' | b'\\' | b'/' => b,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => return set(self, Escape::Unicode(0, 0)),
                    _ => return self.fail(),
                };
                set(self, Escape::None);
                self.keep_byte(role, unescaped);
            }
            Escape::Unicode(read, value) => {
                let Some(digit) = (b as char).to_digit(16) else { return self.fail() };
                let value = value << 4 | digit as u16;
                if read < 3 {
                    return set(self, Escape::Unicode(read + 1, value));
                }
                set(self, Escape::None);
                self.keep_unit(role, value);
            }
        }
    }

    /// A raw or simply unescaped byte of a string.
    fn keep_byte(&mut self, role: Role, b: u8) {
        if self.high_surrogate.take().is_some() {
            // A high surrogate not followed by its low half: not a character.
            self.spoil(role);
        }
        self.push(role, &[b]);
    }

    /// A `\uXXXX` code unit, joined with a preceding high surrogate.
    fn keep_unit(&mut self, role: Role, unit: u16) {
        if matches!(role, Role::Key | Role::Text) {
            return;
        }
        let code = match (self.high_surrogate.take(), unit) {
            (None, 0xD800..=0xDBFF) => {
                self.high_surrogate = Some(unit);
                return;
            }
            (Some(high), 0xDC00..=0xDFFF) => 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00),
            (Some(_), _) | (None, 0xDC00..=0xDFFF) => return self.spoil(role),
            (None, unit) => u32::from(unit),
        };
        let mut utf8 = [0u8; 4];
        match char::from_u32(code) {
            Some(c) => self.push(role, c.encode_utf8(&mut utf8).as_bytes()),
            None => self.spoil(role),
        }
    }

    /// A string being kept holds something that is not a character: never the model.
    fn spoil(&mut self, role: Role) {
        match role {
            Role::Model => self.model_unusable = true,
            Role::TopKey => self.key.extend_from_slice(b"\xff\xff\xff\xff\xff\xff"),
            Role::Key | Role::Text => {}
        }
    }

    fn push(&mut self, role: Role, bytes: &[u8]) {
        match role {
            Role::TopKey if self.key.len() <= MODEL_KEY.len() => self.key.extend_from_slice(bytes),
            Role::Model if self.model_keys == 1 && !self.model_unusable => {
                if self.model.len() + bytes.len() > MAX_MODEL_LEN {
                    self.model_unusable = true;
                } else {
                    self.model.extend_from_slice(bytes);
                }
            }
            _ => {}
        }
    }

    fn string_end(&mut self, role: Role) {
        if self.high_surrogate.take().is_some() {
            self.spoil(role);
        }
        self.lexeme = Lexeme::None;
        match role {
            Role::TopKey => {
                self.expect = Expect::Colon;
                if self.key.eq_ignore_ascii_case(MODEL_KEY) {
                    self.model_keys += 1;
                    self.model_value_next = true;
                }
            }
            Role::Model => {
                self.expect = Expect::Next;
                if self.model_keys == 1 {
                    self.model_complete = true;
                    if std::str::from_utf8(&self.model).is_err() {
                        self.model_unusable = true;
                    }
                }
            }
            Role::Key => self.expect = Expect::Colon,
            Role::Text => self.expect = Expect::Next,
        }
    }
}

/// The model of a whole body in memory (see [`ModelScanner`]).
pub fn model_of(body: &[u8]) -> Option<String> {
    let mut scanner = ModelScanner::new();
    scanner.feed(body);
    scanner.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model, fed whole and split at every byte position into two chunks (and byte by byte):
    /// every split must agree with the whole.
    fn model(body: &[u8]) -> Option<String> {
        let whole = model_of(body);
        for at in 0..=body.len() {
            let mut s = ModelScanner::new();
            s.feed(&body[..at]);
            s.feed(&body[at..]);
            assert_eq!(s.finish(), whole, "split at {at} of {}", String::from_utf8_lossy(body));
        }
        let mut s = ModelScanner::new();
        for b in body {
            s.feed(std::slice::from_ref(b));
        }
        assert_eq!(s.finish(), whole, "byte by byte: {}", String::from_utf8_lossy(body));
        whole
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn the_model_at_any_top_level_position() {
        assert_eq!(model(br#"{"model":"gpt-4o"}"#), some("gpt-4o"));
        assert_eq!(model(br#" { "a" : 1 , "model" : "gpt-4o" , "b" : [ ] } "#), some("gpt-4o"));
        assert_eq!(model(br#"{"messages":[{"role":"user","content":"hi"}],"stream":true,"model":"gpt-4o"}"#), some("gpt-4o"));
        assert_eq!(model(b"\r\n\t{\"model\":\"m\"}\n"), some("m"));
    }

    #[test]
    fn nested_model_keys_are_text_not_the_model() {
        assert_eq!(model(br#"{"inner":{"model":"gpt-4o"}}"#), None);
        assert_eq!(model(br#"{"inner":{"model":"x"},"model":"y"}"#), some("y"));
        assert_eq!(model(br#"{"a":[{"model":"x"}],"model":"y","b":{"c":{"model":"z"}}}"#), some("y"));
        assert_eq!(model(br#"[{"model":"x"}]"#), None);
        assert_eq!(model(br#"{"messages":[{"content":"say \"model\": \"gpt-4o\""}],"model":"ok"}"#), some("ok"));
        assert_eq!(model(br#"{"model_name":"x","models":"y","mode":"z","model":"ok"}"#), some("ok"));
    }

    #[test]
    fn a_value_that_looks_like_a_key_is_not_one() {
        assert_eq!(model(br#"{"a":"model","b":["model","gpt"],"model":"ok"}"#), some("ok"));
        assert_eq!(model(br#"{"a":"model"}"#), None);
    }

    #[test]
    fn two_model_keys_give_none_whatever_their_case_or_spelling() {
        assert_eq!(model(br#"{"model":"gpt-4o-mini","model":"gpt-4o"}"#), None);
        assert_eq!(model(br#"{"model":"gpt-4o-mini","Model":"gpt-4o"}"#), None);
        assert_eq!(model(br#"{"model":"gpt-4o-mini","MODEL":1}"#), None);
        assert_eq!(model(br#"{"model":"gpt-4o-mini","mod\u0065l":"gpt-4o"}"#), None);
        assert_eq!(model(br#"{"model":"a","x":{},"model":"a"}"#), None);
    }

    #[test]
    fn keys_and_values_are_unescaped() {
        assert_eq!(model(br#"{"mod\u0065l":"gpt\u002d4o"}"#), some("gpt-4o"));
        assert_eq!(model(br#"{"\u006D\u006F\u0064\u0065\u006C":"a\/b\\c\"d"}"#), some("a/b\\c\"d"));
        assert_eq!(model(br#"{"Model":"x"}"#), some("x"));
        assert_eq!(model(br#"{"model":"\ud83d\ude00"}"#), some("\u{1F600}"));
        assert_eq!(model("{\"model\":\"caf\u{e9}\"}".as_bytes()), some("caf\u{e9}"));
        assert_eq!(model(br#"{"model":"models/gemini-2.5-flash"}"#), some("gemini-2.5-flash"));
    }

    #[test]
    fn keys_merely_close_to_model_do_not_count() {
        assert_eq!(model(br#"{"model ":"x"}"#), None);
        assert_eq!(model(br#"{"modelx":"x"}"#), None);
        assert_eq!(model(br#"{"mode":"x"}"#), None);
        assert_eq!(model(br#"{"mod\u0000l":"x"}"#), None);
        assert_eq!(model(br#"{"\ud800model":"x"}"#), None);
    }

    #[test]
    fn a_model_that_is_no_clean_string_gives_none() {
        for body in [
            &br#"{"model":4}"#[..],
            br#"{"model":null}"#,
            br#"{"model":true}"#,
            br#"{"model":["gpt-4o"]}"#,
            br#"{"model":{"name":"gpt-4o"}}"#,
            br#"{"model":""}"#,
            br#"{"model":"models/"}"#,
            br#"{"model":"\ud800"}"#,
            br#"{"model":"\ud800x"}"#,
            br#"{"model":"\udc00"}"#,
            br#"{"model":"\ud800\u0041"}"#,
            b"{\"model\":\"\xff\"}",
        ] {
            assert_eq!(model(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_model_up_to_the_longest_kept() {
        let at_limit = format!(r#"{{"model":"{}"}}"#, "m".repeat(MAX_MODEL_LEN));
        assert_eq!(model_of(at_limit.as_bytes()), some(&"m".repeat(MAX_MODEL_LEN)));
        let over = format!(r#"{{"model":"{}"}}"#, "m".repeat(MAX_MODEL_LEN + 1));
        assert_eq!(model_of(over.as_bytes()), None);
    }

    #[test]
    fn invalid_json_gives_none() {
        for body in [
            &b""[..],
            b"   ",
            b"not json",
            b"{",
            br#"{"model":"gpt-4o""#,
            br#"{"model":"gpt-4o"#,
            br#"{"model":"gpt-4o"}}"#,
            br#"{"model":"gpt-4o"} x"#,
            br#"{"model":"gpt-4o"}{}"#,
            br#"{"model" "gpt-4o"}"#,
            br#"{"model":"gpt-4o",}"#,
            br#"{"a":1,,"model":"gpt-4o"}"#,
            br#"{,"model":"gpt-4o"}"#,
            br#"{"model":"gpt-4o"]"#,
            br#"{"a":[1,2},"model":"gpt-4o"}"#,
            br#"{"a":[1,],"model":"gpt-4o"}"#,
            br#"{model:"gpt-4o"}"#,
            br#"{'model':'gpt-4o'}"#,
            br#"{"a":tru,"model":"gpt-4o"}"#,
            br#"{"a":nulll,"model":"gpt-4o"}"#,
            br#"{"a":01,"model":"gpt-4o"}"#,
            br#"{"a":1.,"model":"gpt-4o"}"#,
            br#"{"a":-,"model":"gpt-4o"}"#,
            br#"{"a":1e,"model":"gpt-4o"}"#,
            br#"{"a":+1,"model":"gpt-4o"}"#,
            br#"{"a":.5,"model":"gpt-4o"}"#,
            br#"{"a":NaN,"model":"gpt-4o"}"#,
            br#"{"a":"\x","model":"gpt-4o"}"#,
            br#"{"a":"\u12G4","model":"gpt-4o"}"#,
            b"{\"a\":\"line\nbreak\",\"model\":\"gpt-4o\"}",
            br#"{"a":1 /* c */,"model":"gpt-4o"}"#,
            b"\xef\xbb\xbf{\"model\":\"gpt-4o\"}",
            b"{\"model\":\"gpt-4o\"}\x00",
        ] {
            assert_eq!(model(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn valid_values_of_every_kind_are_skipped() {
        let body = br#"{"n":[0,-0,1,-12.5e+3,3E-2,1e9,0.0],"w":[true,false,null],"s":"\"\\\/\b\f\n\r\t\u00e9","o":{},"a":[],"d":[[[{}]]],"model":"ok"}"#;
        assert_eq!(model(body), some("ok"));
        assert_eq!(model(br#"{"model":"ok","last":12}"#), some("ok"));
        assert_eq!(model(br#"{"model":"ok","last":-0.5e1}"#), some("ok"));
    }

    #[test]
    fn top_level_scalars_have_no_model() {
        for body in [&b"12"[..], b"-1.5", b"\"model\"", b"true", b"null", b"[]"] {
            assert_eq!(model(body), None);
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{{\"a\":{}{},\"model\":\"m\"}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert_eq!(model_of(ok.as_bytes()), some("m"));
        let deep = format!("{{\"a\":{}{},\"model\":\"m\"}}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(model_of(deep.as_bytes()), None);
    }

    #[test]
    fn the_model_after_huge_arrays_and_strings_with_escapes() {
        let mut body = b"{\"messages\":[".to_vec();
        for i in 0..20_000 {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(br#"{"role":"user","content":"a \"model\": \"gpt-4o\" \\ \u00e9 [{"}"#);
        }
        body.extend_from_slice(b"],\"big\":\"");
        body.extend(std::iter::repeat(b'x').take(3 << 20));
        body.extend_from_slice(b"\\\"\",\"model\":\"gpt-4o-mini\"}");
        // Fed in uneven chunks, as a network delivers them.
        let mut s = ModelScanner::new();
        for chunk in body.chunks(4093) {
            s.feed(chunk);
            assert!(!s.failed());
        }
        assert_eq!(s.finish(), some("gpt-4o-mini"));
        assert_eq!(model_of(&body), some("gpt-4o-mini"));
    }

    #[test]
    fn the_state_kept_stays_small() {
        let mut s = ModelScanner::new();
        s.feed(b"{\"a\":\"");
        s.feed(&vec![b'y'; 1 << 20]);
        s.feed(b"\",\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1,\"model\":\"m\"}");
        assert!(s.key.capacity() < 64 && s.model.capacity() <= 2 * MAX_MODEL_LEN);
        assert_eq!(s.finish(), some("m"));
    }

    #[test]
    fn the_first_model_is_known_before_the_body_ends() {
        let mut s = ModelScanner::new();
        s.feed(br#"{"model":"gpt-4"#);
        assert_eq!(s.first_model(), None, "not complete yet");
        s.feed(br#"o","messages":["#);
        assert_eq!(s.first_model(), Some("gpt-4o"));
        assert!(!s.failed());
        s.feed(br#"]}"#);
        assert_eq!(s.finish(), some("gpt-4o"));

        let mut s = ModelScanner::new();
        s.feed(br#"{"model":4,"#);
        assert_eq!(s.first_model(), None);
    }

    #[test]
    fn failure_is_known_early() {
        let mut s = ModelScanner::new();
        s.feed(b"{\"a\":]");
        assert!(s.failed());
        s.feed(br#","model":"m"}"#);
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn agrees_with_serde_on_valid_and_invalid_documents() {
        // serde_json is the reference for validity; where a document is valid, a single lower-case
        // model key must come out the same.
        let docs: &[&[u8]] = &[
            br#"{"model":"a","x":[1,{"y":null}]}"#,
            br#"{"x":"\u00e9\n","model":"b"}"#,
            br#"{"x":1e5,"model":"c"}"#,
            br#"{"x":[1,],"model":"d"}"#,
            br#"{"x":"a	b","model":"e"}"#,
            br#"{"model":"f"}   "#,
        ];
        for doc in docs {
            let valid = serde_json::from_slice::<serde_json::Value>(doc).is_ok();
            let ours = model_of(doc);
            assert_eq!(ours.is_some(), valid, "{}", String::from_utf8_lossy(doc));
        }
    }

    /// Mutated documents (ASCII only: this scanner leaves UTF-8 outside the model to the provider)
    /// against serde_json as the reference for what is valid JSON and what its one model is.
    #[test]
    fn agrees_with_serde_on_mutated_documents() {
        let seeds: &[&[u8]] = &[
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi "there""}],"n":-1.5e3,"s":true}"#,
            br#"{"a":{"model":"x"},"b":[null,false,0],"model":"mA"}"#,
            br#" [ {"model": "x"} , 12 ] "#,
        ];
        let alphabet = br#"{}[]:,\"u0041 	model0123456789.eE+-truefalsn/"#;
        let mut x: u64 = 0x2545F4914F6CDD1D;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..30_000 {
            let mut doc = seeds[next(seeds.len())].to_vec();
            for _ in 0..1 + next(3) {
                let at = next(doc.len() + 1);
                match next(3) {
                    0 if at < doc.len() => {
                        doc.remove(at);
                    }
                    1 if at < doc.len() => doc[at] = alphabet[next(alphabet.len())],
                    _ => doc.insert(at, alphabet[next(alphabet.len())]),
                }
            }
            let expected = match serde_json::from_slice::<serde_json::Value>(&doc) {
                Ok(serde_json::Value::Object(map)) => {
                    let keys: Vec<_> = map.iter().filter(|(k, _)| k.eq_ignore_ascii_case("model")).collect();
                    match keys.as_slice() {
                        [(_, serde_json::Value::String(m))] if !m.is_empty() => Some(m.clone()),
                        _ => None,
                    }
                }
                _ => None,
            };
            let ours = model_of(&doc);
            // serde keeps one of two equal keys; the scanner refuses them. Only that may differ.
            if ours != expected {
                let text = String::from_utf8_lossy(&doc).to_ascii_lowercase();
                assert!(ours.is_none() && text.matches("\"model\"").count() > 1, "{text}: ours {ours:?}, serde {expected:?}");
            }
        }
    }
}
