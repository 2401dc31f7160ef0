//! Bounded text for errors, logs and status: anything that reaches a message from the
//! network (a key, a string, a number, a path) goes through [`clip`], so an attacker
//! who sends a megabyte-long key gets a short error, a short log line and a short
//! `last_rejection`, not a copy of the megabyte.
//!
//! One helper for every such place, so the bound and the marker read the same
//! everywhere: the first [`CLIP_CHARS`] characters, then `…(N bytes)` naming the
//! whole length.

use std::borrow::Cow;

/// Characters of an attacker-chosen string kept in a message.
pub const CLIP_CHARS: usize = 80;

/// Characters of a whole error message kept where one is stored or sent (the last
/// rejection in `/api/status`, an HTTP error body, a log line): a message may quote
/// a few clipped strings, never more than this.
pub const MESSAGE_CHARS: usize = 1000;

/// `s` cut to [`CLIP_CHARS`] characters, with `…(N bytes)` appended when it was
/// longer (N is the whole length in bytes).
pub fn clip(s: &str) -> Cow<'_, str> {
    clip_to(s, CLIP_CHARS)
}

/// `s` cut to `max_chars` characters, with `…(N bytes)` appended when it was longer.
pub fn clip_to(s: &str, max_chars: usize) -> Cow<'_, str> {
    // Every char takes at least one byte: a short text is kept without counting.
    if s.len() <= max_chars {
        return Cow::Borrowed(s);
    }
    match s.char_indices().nth(max_chars) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}…({} bytes)", &s[..end], s.len())),
    }
}

/// An owned [`clip`] (for error variants that keep the text).
pub fn clipped(s: &str) -> String {
    clip(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short text is kept as it is; long text keeps its first 80 characters and names
    /// its length; multi-byte characters are never split.
    #[test]
    fn cuts_long_text_only() {
        assert_eq!(clip("short"), "short");
        let exact = "x".repeat(CLIP_CHARS);
        assert_eq!(clip(&exact), exact.as_str());
        let long = "k".repeat(1 << 20);
        let cut = clip(&long);
        assert_eq!(cut, format!("{}…(1048576 bytes)", "k".repeat(CLIP_CHARS)));
        let wide = "é".repeat(100);
        let cut = clip(&wide);
        assert!(cut.starts_with(&"é".repeat(CLIP_CHARS)));
        assert!(cut.ends_with("…(200 bytes)"));
        // 80 two-byte characters are 160 bytes but only 80 characters: kept whole.
        assert_eq!(clip(&"é".repeat(CLIP_CHARS)), "é".repeat(CLIP_CHARS));
    }
}
