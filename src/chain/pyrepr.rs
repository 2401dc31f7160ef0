//! Python's `str()` and `repr()` of the values `json.loads` produces.
//!
//! The original hashes `str(data)`, so every rule of CPython's rendering matters here:
//! `True`/`False`/`None`, the shortest round-trip float repr with its switch to
//! exponent notation, exact big integers, quote choice and escapes for strings inside
//! containers, and Python 3.13's (Unicode 15.1) idea of a printable character.

use super::json::{
    HEX_DIGITS, Json, JsonErrorKind, JsonStr, Nesting, Number, NumberValue, Scalar, Visit, Wtf8,
    Wtf8Piece,
};
use super::printable_table::NON_PRINTABLE;

/// Appends Python's `str(value)` as UTF-8.
///
/// # Errors
/// [`JsonErrorKind::LoneSurrogate`] for a bare string holding a lone surrogate: its
/// `str()` is itself, which Python cannot encode as UTF-8 (so cannot hash). Nothing is
/// written then. Inside an array or object, `repr()` escapes it (`'\ud800'`).
pub fn write_str(value: &Json, out: &mut Vec<u8>) -> Result<(), JsonErrorKind> {
    match value {
        Json::String(JsonStr::Text(s)) => out.extend_from_slice(s.as_bytes()),
        Json::String(JsonStr::Surrogates(w)) => {
            return Err(JsonErrorKind::LoneSurrogate(w.first_surrogate()));
        }
        other => write_repr(other, out),
    }
    Ok(())
}

/// Renders Python's `str()` of a value from the pieces
/// [`Parser::walk`](super::json::Parser::walk) reports, with
/// no tree. It cannot handle an object that repeats a key (Python keeps the first
/// key's place and the last value); the caller checks for those.
#[derive(Debug, Default)]
pub(crate) struct StreamRepr {
    out: Vec<u8>,
    nesting: Nesting,
}

impl StreamRepr {
    /// The rendered text.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Writes `, ` before every item but the first of its container, and nothing
    /// before a member's value.
    fn separate(&mut self) {
        if self.nesting.separator_due() {
            self.out.extend_from_slice(b", ");
        }
    }
}

impl<'a> Visit<'a> for StreamRepr {
    fn scalar(&mut self, scalar: Scalar<'a>) {
        self.separate();
        write_scalar_str(&scalar, self.nesting.at_top(), &mut self.out);
    }

    fn begin(&mut self, object: bool) {
        self.separate();
        self.out.push(if object { b'{' } else { b'[' });
        self.nesting.open();
    }

    fn key(&mut self, key: JsonStr<'a>) {
        self.separate();
        write_json_str_repr(&key, &mut self.out);
        self.out.extend_from_slice(b": ");
        self.nesting.key_written();
    }

    fn end(&mut self, object: bool) {
        self.nesting.close();
        self.out.push(if object { b'}' } else { b']' });
    }
}

/// Python's `str()` of a leaf value (`at_top`: the whole value), or its `repr()` inside
/// a container: the one rendering of leaves that every `str()` renderer shares.
///
/// A whole value that is a string holding a lone surrogate has no UTF-8 `str()`:
/// callers refuse it before rendering (`RawJson::read` reads a bare string apart).
/// Were one to come here, it is written with Python's escapes, a preimage no Python
/// node computes (so the block cannot pass for valid), rather than a panic.
pub(crate) fn write_scalar_str(scalar: &Scalar<'_>, at_top: bool, out: &mut Vec<u8>) {
    match scalar {
        Scalar::Null => out.extend_from_slice(b"None"),
        Scalar::Bool(true) => out.extend_from_slice(b"True"),
        Scalar::Bool(false) => out.extend_from_slice(b"False"),
        Scalar::Number(n) => write_number(n, out),
        // str() of a string is itself; inside a container it is its repr().
        Scalar::String(JsonStr::Text(s)) if at_top => out.extend_from_slice(s.as_bytes()),
        Scalar::String(JsonStr::Surrogates(w)) if at_top => {
            out.extend_from_slice(w.escaped().as_bytes());
        }
        Scalar::String(s) => write_json_str_repr(s, out),
    }
}

/// A number literal as Python's `str()` prints the value it reads as.
fn write_number(literal: &str, out: &mut Vec<u8>) {
    if write_plain_decimal(literal, out) {
        return;
    }
    match Number::value_of(literal) {
        NumberValue::Int(digits) => write_int(digits, out),
        NumberValue::Float(f) => write_float_repr(f, out),
    }
}

/// Python's `repr()` of the float a plain decimal literal (`-?I.F`, no exponent)
/// reads as, straight from its text, when it has at most 15 significant digits and its
/// point where `repr` keeps fixed notation; `false` (nothing written) for any other
/// literal, which [`write_float_repr`] then renders.
///
/// Why the text is the answer: a decimal of at most 15 significant digits survives
/// the trip through a double (`DBL_DIG`), so no two such decimals read as the same
/// double, and the shortest digits that read back as this one are the literal's own
/// without the fraction's trailing zeros. It saves parsing the float and formatting it
/// again, for the common short amounts in block data.
pub(crate) fn write_plain_decimal(literal: &str, out: &mut Vec<u8>) -> bool {
    let (negative, body) = match literal.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, literal),
    };
    let Some((int, frac)) = body.split_once('.') else {
        return false;
    };
    write_plain_decimal_parts(negative, int.as_bytes(), frac.as_bytes(), out)
}

/// [`write_plain_decimal`] of a literal already split into its sign, integer digits
/// and fraction digits (the text readers have them at hand).
pub(crate) fn write_plain_decimal_parts(
    negative: bool,
    int: &[u8],
    frac: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if int.is_empty() || frac.is_empty() || !all_digits(int) || !all_digits(frac) {
        return false;
    }
    let frac = &frac[..frac.iter().rposition(|&b| b != b'0').map_or(0, |i| i + 1)];
    let significant = if int == b"0" {
        let zeros = frac.iter().take_while(|&&b| b == b'0').count();
        if zeros >= 4 {
            return false; // 0.0000d…: repr switches to d…e-05
        }
        frac.len() - zeros
    } else {
        int.len() + frac.len()
    };
    if significant > 15 {
        return false;
    }
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(int);
    out.push(b'.');
    out.extend_from_slice(if frac.is_empty() { b"0" } else { frac });
    true
}

/// Appends Python's `repr(value)` as UTF-8 (the rendering used inside containers).
pub fn write_repr(value: &Json, out: &mut Vec<u8>) {
    match value {
        Json::Null => out.extend_from_slice(b"None"),
        Json::Bool(true) => out.extend_from_slice(b"True"),
        Json::Bool(false) => out.extend_from_slice(b"False"),
        Json::Number(n) => write_number(n.as_str(), out),
        Json::String(s) => write_json_str_repr(s, out),
        Json::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_repr(item, out);
            }
            out.push(b']');
        }
        Json::Object(members) => {
            out.push(b'{');
            let mut first = true;
            for_each_python_member(members, |key, value| {
                if !first {
                    out.extend_from_slice(b", ");
                }
                first = false;
                write_json_str_repr(key, out);
                out.extend_from_slice(b": ");
                write_repr(value, out);
            });
            out.push(b'}');
        }
    }
}

/// Visits an object's members as a Python `dict` holds them: a repeated key keeps the
/// place of its first occurrence and the value of its last. The members are a tree's
/// (key, value) or, for rendering straight from text, (key, where the value starts).
pub(crate) fn for_each_python_member<'a, K: Eq + std::hash::Hash, V>(
    members: &'a [(K, V)],
    mut f: impl FnMut(&'a K, &'a V),
) {
    // Small objects (the usual case) are scanned; large ones get an index so hostile
    // input cannot make rendering quadratic.
    const SCAN_LIMIT: usize = 16;
    if members.len() <= SCAN_LIMIT {
        for (i, (key, value)) in members.iter().enumerate() {
            if members[..i].iter().any(|(k, _)| k == key) {
                continue; // already visited at its first place
            }
            let last = members[i + 1..].iter().rev().find(|(k, _)| k == key);
            f(key, last.map_or(value, |(_, v)| v));
        }
        return;
    }
    let mut last_of: std::collections::HashMap<&K, usize> =
        std::collections::HashMap::with_capacity(members.len());
    for (i, (key, _)) in members.iter().enumerate() {
        last_of.insert(key, i);
    }
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    for (key, _) in members {
        if seen.insert(key) {
            let last = *last_of.get(key).expect("every key was indexed above");
            f(key, &members[last].1);
        }
    }
}

/// An integer literal as Python prints it: `-0` reads as `0`; others are canonical.
fn write_int(digits: &str, out: &mut Vec<u8>) {
    if digits == "-0" {
        out.push(b'0');
    } else {
        out.extend_from_slice(digits.as_bytes());
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed notation
/// when the decimal exponent is in `-4..16`, else `d.ddde±XX`; `inf`, `-inf`, `nan`.
pub fn write_float_repr(f: f64, out: &mut Vec<u8>) {
    if f.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    // Ryu gives the shortest digits that round-trip, and on an exact tie between two
    // such strings rounds half to even, as CPython's dtoa does (Rust's own `{:e}` rounds
    // half up: 1.1192039882735312e14 would come out ...13).
    let mut ryu_buf = ryu::Buffer::new();
    // Python's decpt: the value is 0.d1d2... × 10^decpt.
    let (negative, digit_buf, n_digits, decpt) = shortest_digits(ryu_buf.format_finite(f));
    let digits = &digit_buf[..n_digits];
    if negative {
        out.push(b'-');
    }
    let n = digits.len() as i32;
    if decpt <= -4 || decpt > 16 {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let e = decpt - 1;
        out.push(b'e');
        out.push(if e < 0 { b'-' } else { b'+' });
        let e = e.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        if e >= 100 {
            out.push(b'0' + (e / 100) as u8);
        }
        if e >= 10 {
            out.push(b'0' + (e / 10 % 10) as u8);
        }
        out.push(b'0' + (e % 10) as u8);
    } else if decpt <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', decpt.unsigned_abs() as usize));
        out.extend_from_slice(digits);
    } else if decpt < n {
        let p = decpt as usize;
        out.extend_from_slice(&digits[..p]);
        out.push(b'.');
        out.extend_from_slice(&digits[p..]);
    } else {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', (decpt - n) as usize));
        out.extend_from_slice(b".0");
    }
}

/// Splits a finite number's text (Ryu's: `1.5e-7`, `123.0`, `0.001`, `-0.0`) into its
/// sign, significant digits without leading or trailing zeros (at least one), how many
/// there are, and the decimal point's position `decpt` (value = 0.d1d2… × 10^decpt).
fn shortest_digits(text: &str) -> (bool, [u8; 24], usize, i32) {
    let (negative, text) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (mantissa, exp) = text.split_once(['e', 'E']).unwrap_or((text, "0"));
    let exp: i32 = exp
        .parse()
        .expect("Ryu writes its exponent as a small decimal integer");
    let point = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    let mut digits = [0u8; 24];
    let mut n = 0;
    let mut leading_zeros = 0;
    for b in mantissa.bytes().filter(u8::is_ascii_digit) {
        if n == 0 && b == b'0' {
            leading_zeros += 1;
        } else if n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    if n == 0 {
        // Zero: one digit, "0.0" in fixed notation.
        digits[0] = b'0';
        return (negative, digits, 1, 1);
    }
    (negative, digits, n, point - leading_zeros + exp)
}

/// Python's `repr(str)`: single quotes unless the text holds `'` and no `"`; escapes
/// for the backslash, the chosen quote, `\t \n \r`, and `\xhh`/`\uhhhh`/`\Uhhhhhhhh`
/// for characters `str.isprintable()` rejects.
pub fn write_string_repr(s: &str, out: &mut Vec<u8>) {
    // Printable ASCII without a quote or backslash, the usual text: as it is, in
    // single quotes.
    if s.bytes()
        .all(|b| matches!(b, b' '..=b'~') && b != b'\'' && b != b'\\')
    {
        out.reserve(s.len() + 2);
        out.push(b'\'');
        out.extend_from_slice(s.as_bytes());
        out.push(b'\'');
        return;
    }
    let quote = repr_quote(s.contains('\''), s.contains('"'));
    out.push(quote);
    write_repr_body(s, quote, out);
    out.push(quote);
}

/// Python's `repr()` of a string value: [`write_string_repr`], or for a string holding
/// lone surrogates, the same with each one escaped as Python prints it (`\ud800`: a
/// surrogate is not printable).
pub fn write_json_str_repr(s: &JsonStr<'_>, out: &mut Vec<u8>) {
    match s {
        JsonStr::Text(s) => write_string_repr(s, out),
        JsonStr::Surrogates(w) => write_wtf8_repr(w, out),
    }
}

/// [`write_json_str_repr`] of a string holding lone surrogates.
fn write_wtf8_repr(w: &Wtf8, out: &mut Vec<u8>) {
    let quote = repr_quote(w.contains_ascii(b'\''), w.contains_ascii(b'"'));
    out.push(quote);
    for piece in w.pieces() {
        match piece {
            Wtf8Piece::Text(s) => write_repr_body(s, quote, out),
            Wtf8Piece::Surrogate(unit) => write_hex_escape(u32::from(unit), out),
        }
    }
    out.push(quote);
}

/// The quote Python's `repr()` puts around a string: double quotes only for one that
/// holds a single quote and no double quote.
fn repr_quote(single: bool, double: bool) -> u8 {
    if single && !double { b'"' } else { b'\'' }
}

/// The characters of `repr(s)` between its quotes, `quote` being the one chosen.
fn write_repr_body(s: &str, quote: u8, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            let needs_escape = b == quote || b == b'\\' || b < 0x20 || b == 0x7f;
            if needs_escape {
                out.extend_from_slice(&bytes[plain_from..i]);
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\'' | b'"' => out.extend_from_slice(&[b'\\', b]),
                    _ => write_hex_escape(u32::from(b), out),
                }
                plain_from = i + 1;
            }
            i += 1;
        } else {
            let ch = s[i..]
                .chars()
                .next()
                .expect("a non-ASCII byte reached at a character boundary starts a character");
            let len = ch.len_utf8();
            if !is_printable(ch) {
                out.extend_from_slice(&bytes[plain_from..i]);
                write_hex_escape(u32::from(ch), out);
                plain_from = i + len;
            }
            i += len;
        }
    }
    out.extend_from_slice(&bytes[plain_from..]);
}

/// `\xhh`, `\uhhhh` or `\Uhhhhhhhh`, as CPython's `unicode_repr` picks by size.
fn write_hex_escape(cp: u32, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = HEX_DIGITS;
    let (tag, width) = match cp {
        0..=0xff => (b'x', 2),
        0x100..=0xffff => (b'u', 4),
        _ => (b'U', 8),
    };
    out.push(b'\\');
    out.push(tag);
    for k in (0..width).rev() {
        out.push(HEX[((cp >> (4 * k)) & 0xf) as usize]);
    }
}

/// Python 3.13's `str.isprintable()` for one character (Unicode 15.1).
pub fn is_printable(ch: char) -> bool {
    let cp = u32::from(ch);
    if (0x20..0x7f).contains(&cp) {
        return true;
    }
    let idx = NON_PRINTABLE.partition_point(|&(_, last)| last < cp);
    NON_PRINTABLE.get(idx).is_none_or(|&(first, _)| first > cp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn str_of(text: &str) -> String {
        let mut out = Vec::new();
        if let Ok(v) = Json::parse(text) {
            write_str(&v, &mut out).expect("no bare lone surrogate");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn floats_follow_python_repr() {
        for (text, want) in [
            ("1.0", "1.0"),
            ("0.1", "0.1"),
            ("-0.0", "-0.0"),
            ("0.00001", "1e-05"),
            ("0.0001", "0.0001"),
            ("1e15", "1000000000000000.0"),
            ("1e16", "1e+16"),
            ("123456789.123", "123456789.123"),
            ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("1E400", "inf"),
            ("-1E400", "-inf"),
            ("NaN", "nan"),
            ("2.5e-07", "2.5e-07"),
            ("1.50", "1.5"),
            ("12345.678e3", "12345678.0"),
            // An exact tie between two shortest strings: half to even, as CPython.
            ("1.1192039882735313e14", "111920398827353.12"),
            ("123.0", "123.0"),
            ("0.001", "0.001"),
            ("1e22", "1e+22"),
            ("1e-7", "1e-07"),
        ] {
            assert_eq!(str_of(text), want, "{text}");
        }
    }

    /// Plain decimals rendered from their text agree with parsing and formatting the
    /// float, on literals around every edge of the shortcut (15 and 16 significant
    /// digits, three and four leading zeros, trailing zeros, signs).
    #[test]
    fn plain_decimals_match_the_float_repr() {
        let mut rng = fastrand::Rng::with_seed(11);
        let digits = |rng: &mut fastrand::Rng, n: usize| -> String {
            (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
        };
        let mut taken = 0;
        for _ in 0..200_000 {
            let int = match rng.u8(0..3) {
                0 => "0".to_owned(),
                _ => {
                    let (lead, n) = (rng.u8(1..10), rng.usize(0..17));
                    format!("{lead}{}", digits(&mut rng, n))
                }
            };
            let zeros = "0".repeat(rng.usize(0..6));
            let n = rng.usize(0..18);
            let frac = format!("{zeros}{}", digits(&mut rng, n));
            let frac = if frac.is_empty() {
                "0".to_owned()
            } else {
                frac
            };
            let sign = if rng.bool() { "-" } else { "" };
            let literal = format!("{sign}{int}.{frac}");
            let mut fast = Vec::new();
            if write_plain_decimal(&literal, &mut fast) {
                taken += 1;
                let mut slow = Vec::new();
                let f: f64 = literal.parse().expect("a decimal literal");
                write_float_repr(f, &mut slow);
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&slow),
                    "{literal}"
                );
            }
        }
        assert!(taken > 50_000, "{taken}");
        for literal in ["1e5", "1.5e3", "NaN", "-Infinity", "12", "-0"] {
            assert!(!write_plain_decimal(literal, &mut Vec::new()), "{literal}");
        }
    }

    #[test]
    fn strings_pick_quotes_and_escape() {
        assert_eq!(str_of(r#"["it's"]"#), r#"["it's"]"#);
        assert_eq!(str_of(r#"["it's \"x\""]"#), r#"['it\'s "x"']"#);
        assert_eq!(
            str_of(r#"["a\\b\u0000\u007f\u00a0é\u2028"]"#),
            r"['a\\b\x00\x7f\xa0é\u2028']"
        );
        assert_eq!(str_of(r#"["\udb80\udc00"]"#), r"['\U000f0000']");
    }

    /// Lone surrogates inside containers are escaped as Python's `repr()` escapes
    /// them (outputs of CPython 3.11: `str(json.loads(text))`); a bare one has no
    /// UTF-8 `str()`.
    #[test]
    fn lone_surrogates_render_as_python_repr() {
        for (text, python) in [
            (r#"["\ud800", {"\udc00": 1}]"#, r"['\ud800', {'\udc00': 1}]"),
            (
                r#"["a\n'b\ud800\u00e9\u00a0\"", "x"]"#,
                r#"['a\n\'b\ud800é\xa0"', 'x']"#,
            ),
            (
                r#"{"\ud800": 1, "\udbff": 2, "\ud800": 3}"#,
                r"{'\ud800': 3, '\udbff': 2}",
            ),
            (r#"["\udfff\ud800"]"#, r"['\udfff\ud800']"),
            (r#"["\ud83d\ude00\ud83d"]"#, r"['😀\ud83d']"),
            (r#"["it's \ud800"]"#, r#"["it's \ud800"]"#),
        ] {
            assert_eq!(str_of(text), python, "{text}");
        }
        let bare = Json::parse(r#""\ud800""#).expect("Python reads it");
        assert_eq!(
            write_str(&bare, &mut Vec::new()),
            Err(JsonErrorKind::LoneSurrogate(0xd800))
        );
    }

    #[test]
    fn containers_keep_python_dict_semantics() {
        assert_eq!(str_of(r#"{"a": 1, "b": 2, "a": 3}"#), "{'a': 3, 'b': 2}");
        assert_eq!(
            str_of("[true, false, null, -0, {}]"),
            "[True, False, None, 0, {}]"
        );
    }

    #[test]
    fn printable_follows_unicode_15_1() {
        assert!(is_printable(' ') && is_printable('é') && is_printable('中'));
        assert!(!is_printable('\u{a0}') && !is_printable('\u{200b}') && !is_printable('\u{2028}'));
        // CJK Extension I, new in Unicode 15.1.
        assert!(is_printable('\u{2EBF0}'));
        assert!(!is_printable('\u{F0000}'));
    }
}
