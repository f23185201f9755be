//! Screening of free-text input for SQL injection and cross-site scripting
//! payloads: the verdict behind the gateway's `400 suspicious_input`.
//!
//! This module holds a pure function of one string ([`check`], or
//! [`check_field`] which names the field) and the detector verdicts it is built
//! on ([`detect_sqli`], [`detect_xss`]). It does no I/O and never logs, stores
//! or echoes the value: a [`Finding`] says what kind of threat was seen and a
//! short reason made only of fixed text (a libinjection fingerprint is a string
//! of token-class letters, never text of the value), so a message built from it
//! cannot reflect the input. It must not become the only defence: values are
//! stored through bound parameters, the API answers JSON only
//! (`Content-Type: application/json`, `nosniff`, CSP `default-src 'none'`), and
//! anything that renders a value as HTML escapes it. Screening is
//! defence in depth and an early, logged signal.
//!
//! # What [`check`] does, in order
//!
//! 1. **Control characters.** Any Unicode control character (general category
//!    Cc: U+0000–U+001F, U+007F–U+009F) other than tab, line feed and carriage
//!    return is refused ([`Finding::ControlCharacter`]). NUL truncates strings
//!    in C libraries and some databases, ESC drives terminals that read logs,
//!    and none belongs in a name or description. Carriage return stays allowed
//!    because text areas send line breaks as CR LF. Format characters (Cf) such
//!    as the zero-width joiner stay allowed: emoji sequences and Arabic and
//!    Indic text need them. (Overlong or otherwise invalid UTF-8 cannot reach
//!    this function: a `&str` is valid UTF-8, and the JSON parser has already
//!    refused such bytes.)
//! 2. **Detection on the value as sent**: libinjection's SQL-injection and
//!    XSS detectors, then this module's own rules for what libinjection lets
//!    pass: stacked queries ([`SqlRule::StackedQuery`]), a quote followed by
//!    a comment to the end ([`SqlRule::QuoteThenComment`]) and script URLs
//!    ([`XssRule::ScriptUrl`]). Three kinds of libinjection verdict are
//!    overruled when the value has no SQL comment, because they match prose
//!    and describe no attack on a free-text field: a fingerprint of numbers
//!    and operators only (`1&1`: "1 and 2 and 3", arithmetic; as SQL, an
//!    injection into a numeric context), the same with variables when the
//!    value is one e-mail address (`1*@example.org`: `1ov`), and `sos`
//!    ("Press '!' to continue"; as SQL, a string concatenation probe).
//! 3. **Detection on the NFKC form**, when it differs: full-width and other
//!    compatibility forms (`＜script＞`, `＇ ＯＲ １＝１`) are folded to ASCII
//!    first, since a later consumer (a database collation, a "best fit"
//!    code-page conversion, a search index) may fold them the same way.
//! 4. **Detection on the percent-decoded form**, when the value contains a
//!    `%XX` escape: one round of decoding, for values that something
//!    downstream may decode again (double encoding).
//!
//! # The detectors and their corrections
//!
//! Detection uses `libinjectionrs` 0.1.1, a pure-Rust port of libinjection
//! (the C binding does not build offline). The port was checked against
//! libinjection's published vectors (`tests/libinjection_vectors.rs`): it
//! passes all 480 unit vectors once a variable token is printed the C way,
//! and agrees with the C library on 19,197 of 19,216 sample inputs. The 19
//! disagreements (18 missed SQL injections, one fingerprint difference) come
//! from three defects of the port; [`detect_sqli`] corrects the first two
//! before calling it, after which it agrees on every sample:
//!
//! - *Case-sensitive `INTO` test.* libinjection treats a three-token match
//!   whose middle keyword is not `INTO OUTFILE`/`INTO DUMPFILE` as benign,
//!   comparing case-insensitively; the port compares case-sensitively, so
//!   `1 into outfile 'x'` passes it. Correction: every `into` is uppercased
//!   first (keyword lookup is case-insensitive in both; nothing else changes
//!   case, since to libinjection `\N`, MySQL's NULL, differs from `\n`).
//! - *Multi-word keywords with a bare-word prefix.* libinjection merges
//!   `LOCK IN SHARE MODE`, `IN BOOLEAN MODE`, `IS [NOT] DISTINCT FROM`,
//!   `AT TIME ZONE`, `NEXT VALUE FOR`, `PREVIOUS VALUE FOR` and
//!   `CREATE OR REPLACE` word by word through table entries of type "bare
//!   word" (`LOCK IN`, `LOCK IN SHARE`, …); the port's keyword lookup cannot
//!   tell such an entry from a missing one and never merges them. Correction:
//!   each complete phrase (whitespace-separated, on word boundaries) is
//!   replaced, space-padded to the same length, by a single keyword of the
//!   merged phrase's type. Incomplete prefixes (`lock in`) are left alone:
//!   replacing them made agreement worse in differential testing, because
//!   the C folding sees the unmerged words before it merges them.
//! - *NUL inside a comment* (`1/*\0*/ union select …`): the C library stops
//!   at the NUL, the port reads on; both flag the sample, with different
//!   fingerprints. Not corrected: [`check`] refuses NUL before detection.
//!
//! Differential testing against the C library (done once, outside the
//! repository, since it needs the C code): on 200,000 sample inputs mutated
//! with these phrases spliced in, the corrections removed 151 disagreements
//! and introduced 18 (phrases right after a digit or before a symbol, where
//! the C folding acts on the unmerged words first). On 300,000 mutated
//! inputs without them, the corrected detectors disagree with C on 213
//! (0.07%): 86 contain NUL, 55 contain bytes that cannot occur in UTF-8
//! text, 9 contain control characters (all impossible in, or refused from, a
//! value as sent), 2 put `@@` variables before a call, and 70 are attribute
//! names that start with an event-handler name and go on (`onerror2=`,
//! `onerrorq=`): the C library at the tested commit matches event names by
//! prefix, the port exactly. Browsers run only exact names, so those are no
//! gap.
//!
//! libinjection's XSS detector is used as is (the port agrees with the C
//! library on every XSS sample). It flags a `javascript:` URL only inside a
//! URL attribute (`href=…`), and there it flags any value starting with
//! `data` or `java` — far too broad to apply to bare free text ("Java
//! developers", "Data: 5 GB") — so the
//! script-URL rule ([`XssRule::ScriptUrl`]) is this module's own: after
//! decoding character references and dropping tab, CR and LF (as browsers do
//! in URLs), a `javascript:`, `vbscript:` or `livescript:` scheme, or a
//! `data:` URL of an HTML, SVG, XML or script media type, is refused where it
//! could start a URL. Prose such as "JavaScript: 60%" passes (the scheme must
//! be followed directly by a non-space or by a call such as `alert(`).
//!
//! Measured on the corpora in `tests/data/screen/` (see `tests/screen.rs`):
//! every one of the 241 legitimate values passes (libinjection alone refuses
//! four: `1 and 2 and 3`, an arithmetic line, `Press '!' to continue` and
//! `Use '-' or '+' signs`); 202 of 219 attack
//! payloads are refused (libinjection alone: 171), and the 17 that pass are
//! listed there with why each is inert. One legitimate-looking value is a
//! known false positive of libinjection: `"Ready"; execute the plan`.
//!
//! A panic inside the third-party detector is caught and refused as
//! [`Finding::DetectorFault`] (fail closed: a 400, never a 500). The cost is
//! linear in the input; see the `screen` bench.

use std::borrow::Cow;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use libinjectionrs::sqli::{SqliFlags, SqliState};
use libinjectionrs::xss::XssDetector;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

use crate::model::validate_email;

/// The kind of threat a [`Finding`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Threat {
    /// A SQL injection payload.
    SqlInjection,
    /// A cross-site scripting payload (markup or script URL).
    CrossSiteScripting,
    /// A control character that has no place in free text.
    ControlCharacter,
    /// The detector failed on this input; refused to fail closed.
    DetectorFault,
}

impl Threat {
    /// A stable `snake_case` code, safe to return to clients and to log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SqlInjection => "sql_injection",
            Self::CrossSiteScripting => "xss",
            Self::ControlCharacter => "control_character",
            Self::DetectorFault => "detector_fault",
        }
    }
}

impl fmt::Display for Threat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The form of the value in which a threat was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Form {
    /// The value as sent.
    AsSent,
    /// Its NFKC normalisation (full-width and compatibility characters folded).
    Nfkc,
    /// One round of percent-decoding (of the NFKC form).
    PercentDecoded,
}

impl Form {
    /// A stable `snake_case` name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AsSent => "as_sent",
            Self::Nfkc => "nfkc",
            Self::PercentDecoded => "percent_decoded",
        }
    }
}

/// Which SQL-injection rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlRule {
    /// libinjection recognised SQL; its fingerprint of the matching parse.
    Libinjection(Fingerprint),
    /// A quote, parenthesis or number, `;`, then the start of a SQL statement
    /// (`'; DROP TABLE`, `1; SHUTDOWN`): a stacked query (this module's rule).
    StackedQuery,
    /// A quote followed only by a comment to the end (`admin' #`,
    /// `admin'-- `), which libinjection lets pass (this module's rule).
    QuoteThenComment,
}

/// Which XSS rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum XssRule {
    /// libinjection's HTML5 tokenizer found a dangerous tag, attribute,
    /// URL attribute value, comment or doctype, in one of the contexts the
    /// value could land in (text, unquoted/single/double/back-quoted attribute).
    Markup,
    /// A `javascript:`-like scheme or a scriptable `data:` URL (this module's rule).
    ScriptUrl,
}

/// A libinjection SQL fingerprint: up to five token-class letters such as
/// `s&1` or `1UE`. Made only of a fixed alphabet, never of the input's text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    bytes: [u8; 8],
    len: u8,
}

impl Fingerprint {
    /// Keeps the leading printable ASCII bytes of a NUL-padded fingerprint.
    fn from_padded(raw: &[u8]) -> Self {
        let mut bytes = [0u8; 8];
        let mut len = 0u8;
        for (slot, &b) in bytes
            .iter_mut()
            .zip(raw.iter().take_while(|b| b.is_ascii_graphic()))
        {
            *slot = b;
            len += 1;
        }
        Self { bytes, len }
    }

    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        self.bytes
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({:?})", self.as_str())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a value was refused. It never contains the value's text; its
/// `Display` is a short reason for logs. Clients should be told only
/// [`Finding::threat`] (a fingerprint helps an attacker tune a payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// SQL injection.
    SqlInjection {
        /// The rule that matched.
        rule: SqlRule,
        /// The form in which it was found.
        form: Form,
    },
    /// Markup or a URL that would run script.
    CrossSiteScripting {
        /// The rule that matched.
        rule: XssRule,
        /// The form in which it was found.
        form: Form,
    },
    /// A control character other than tab, line feed or carriage return.
    ControlCharacter {
        /// The offending code point (a control character, shown as `U+XXXX`).
        code_point: char,
    },
    /// The detector panicked on this input (a defect of the detector).
    DetectorFault,
}

impl Finding {
    /// The kind of threat.
    pub fn threat(&self) -> Threat {
        match self {
            Self::SqlInjection { .. } => Threat::SqlInjection,
            Self::CrossSiteScripting { .. } => Threat::CrossSiteScripting,
            Self::ControlCharacter { .. } => Threat::ControlCharacter,
            Self::DetectorFault => Threat::DetectorFault,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SqlInjection { rule, form } => match rule {
                SqlRule::Libinjection(fingerprint) => write!(
                    f,
                    "SQL injection (libinjection fingerprint {fingerprint}, {})",
                    form.as_str()
                ),
                SqlRule::StackedQuery => {
                    write!(f, "SQL injection (stacked query, {})", form.as_str())
                }
                SqlRule::QuoteThenComment => {
                    write!(f, "SQL injection (quote then comment, {})", form.as_str())
                }
            },
            Self::CrossSiteScripting { rule, form } => {
                let rule = match rule {
                    XssRule::Markup => "markup",
                    XssRule::ScriptUrl => "script URL",
                };
                write!(f, "cross-site scripting ({rule}, {})", form.as_str())
            }
            Self::ControlCharacter { code_point } => {
                write!(f, "control character U+{:04X}", u32::from(*code_point))
            }
            Self::DetectorFault => f.write_str("detector fault"),
        }
    }
}

impl std::error::Error for Finding {}

/// A refused field: the field's name (from the request schema) and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("suspicious input in {field}: {}", finding.threat())]
pub struct Suspicious {
    /// The field's name as the API documents it. A `'static` name, so a
    /// user-chosen map key can never be echoed as a field name.
    pub field: &'static str,
    /// What was found.
    pub finding: Finding,
}

/// Screens one free-text value; see the module documentation for the rules.
pub fn check(value: &str) -> Result<(), Finding> {
    if let Some(c) = value
        .chars()
        .find(|&c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(Finding::ControlCharacter { code_point: c });
    }
    screen(value.as_bytes(), Form::AsSent)?;

    let nfkc: Cow<'_, str> =
        if value.is_ascii() || is_nfkc_quick(value.chars()) == IsNormalized::Yes {
            Cow::Borrowed(value)
        } else {
            Cow::Owned(value.nfkc().collect())
        };
    if nfkc != value {
        screen(nfkc.as_bytes(), Form::Nfkc)?;
    }
    if let Some(decoded) = percent_decode(nfkc.as_bytes()) {
        screen(&decoded, Form::PercentDecoded)?;
    }
    Ok(())
}

/// [`check`], naming the field in the error.
pub fn check_field(field: &'static str, value: &str) -> Result<(), Suspicious> {
    check(value).map_err(|finding| Suspicious { field, finding })
}

/// Runs every detector on one form of the value.
fn screen(bytes: &[u8], form: Form) -> Result<(), Finding> {
    if let Some(fingerprint) = detect_sqli(bytes)?
        && !(form != Form::PercentDecoded && prose_fingerprint(&fingerprint, bytes))
    {
        return Err(Finding::SqlInjection {
            rule: SqlRule::Libinjection(fingerprint),
            form,
        });
    }
    if let Some(rule) = sql_rules(bytes) {
        return Err(Finding::SqlInjection { rule, form });
    }
    if detect_xss(bytes)? {
        return Err(Finding::CrossSiteScripting {
            rule: XssRule::Markup,
            form,
        });
    }
    if script_url(bytes) {
        return Err(Finding::CrossSiteScripting {
            rule: XssRule::ScriptUrl,
            form,
        });
    }
    Ok(())
}

/// Runs a third-party detector, turning a panic into [`Finding::DetectorFault`].
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Finding> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| Finding::DetectorFault)
}

/// libinjection's SQL-injection verdict on raw bytes (all quote contexts and
/// SQL dialects it tries), with the corrections described in the module
/// documentation: `Some(fingerprint)` when it is SQL injection.
pub fn detect_sqli(input: &[u8]) -> Result<Option<Fingerprint>, Finding> {
    if input.is_empty() {
        return Ok(None);
    }
    let prepared = prepare_for_sqli(input);
    guarded(|| {
        let mut state = SqliState::new(&prepared, SqliFlags::FLAG_NONE);
        state
            .detect()
            .then(|| Fingerprint::from_padded(&state.fingerprint))
    })
}

/// libinjection's XSS verdict on raw bytes (HTML5 tokenization in the text,
/// unquoted, single-, double- and back-quoted attribute contexts).
pub fn detect_xss(input: &[u8]) -> Result<bool, Finding> {
    guarded(|| XssDetector::new().detect(input).is_injection())
}

/// Multi-word keywords that libinjection builds through bare-word prefixes,
/// each with a single-word keyword of the merged phrase's type (length 5 or
/// more, not starting with `INTO`, contained in no multi-word keyword, so it
/// merges with no neighbour), which is what the C folding turns the phrase
/// into. Longest first.
const MERGED_PHRASES: &[(&[&[u8]], &[u8])] = &[
    (&[b"IS", b"NOT", b"DISTINCT", b"FROM"], b"UESCAPE"), // 'o'
    (&[b"LOCK", b"IN", b"SHARE", b"MODE"], b"LINES"),     // 'k'
    (&[b"PREVIOUS", b"VALUE", b"FOR"], b"PURGE"),         // 'k'
    (&[b"CREATE", b"OR", b"REPLACE"], b"PRINT"),          // 'T'
    (&[b"IN", b"BOOLEAN", b"MODE"], b"INDEX"),            // 'k'
    (&[b"IS", b"DISTINCT", b"FROM"], b"UESCAPE"),         // 'o'
    (&[b"NEXT", b"VALUE", b"FOR"], b"NOTNULL"),           // 'k'
    (&[b"AT", b"TIME", b"ZONE"], b"AGAINST"),             // 'k'
];

/// Bytes that end a word in libinjection's SQL tokenizer (`parse_word`).
fn ends_word(b: u8) -> bool {
    b" []{}<>:\\?=@!#~+-*/&|^%(),';\t\n\x0b\x0c\r\"\xa0".contains(&b)
}

/// Bytes that both end a word and are skipped as white space.
fn is_separator(b: u8) -> bool {
    b" \t\n\x0b\x0c\r\xa0".contains(&b)
}

/// If the words of `phrase` start at `at`, separated by white space and
/// ending at a word boundary, the end of the match.
fn match_phrase(s: &[u8], at: usize, phrase: &[&[u8]]) -> Option<usize> {
    let mut pos = at;
    for (i, word) in phrase.iter().enumerate() {
        if i > 0 {
            let start = pos;
            while s.get(pos).is_some_and(|&b| is_separator(b)) {
                pos += 1;
            }
            if pos == start {
                return None;
            }
        }
        if !s
            .get(pos..pos + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
        {
            return None;
        }
        pos += word.len();
    }
    match s.get(pos) {
        None => Some(pos),
        Some(&b) if ends_word(b) => Some(pos),
        Some(_) => None,
    }
}

/// Uppercases every `into` and rewrites the phrases of [`MERGED_PHRASES`]
/// (see the module documentation for why). Nothing else changes case: to
/// libinjection `\N` (MySQL's NULL) differs from `\n`.
fn prepare_for_sqli(input: &[u8]) -> Vec<u8> {
    let mut s = input.to_vec();
    let mut at = 0;
    while let Some(window) = s.get_mut(at..at + 4) {
        if window.eq_ignore_ascii_case(b"into") {
            window.make_ascii_uppercase();
            at += 4;
        } else {
            at += 1;
        }
    }
    let mut at = 0;
    while at < s.len() {
        let boundary = at == 0 || s.get(at - 1).is_some_and(|&b| ends_word(b) && b != b'@');
        let mut advanced = false;
        if boundary {
            for (phrase, replacement) in MERGED_PHRASES {
                if let Some(end) = match_phrase(&s, at, phrase) {
                    if let Some(span) = s.get_mut(at..end) {
                        span.fill(b' ');
                        for (dst, &src) in span.iter_mut().zip(replacement.iter()) {
                            *dst = src;
                        }
                    }
                    at = end;
                    advanced = true;
                    break;
                }
            }
        }
        if !advanced {
            at += 1;
        }
    }
    s
}

/// Whether a libinjection match reads as prose rather than an attack on a
/// free-text field, in a value as sent with no SQL comment:
///
/// - a fingerprint of numbers and operators only (`1&1`, `1o1&1`), which
///   describes injection into a numeric SQL context (`id=1 and 1=1`): a
///   free-text field is never one, while "1 and 2 and 3" and arithmetic are
///   ordinary prose;
/// - the same with variables (`1ov`) when the whole value is one e-mail
///   address as the API accepts it ([`validate_email`]): `1*@example.org`
///   is a number, an operator and what SQL reads as a `@variable`. Only the address shape is let through: `1 or
///   1=@@version` and `1 and 1=0 union select …` (fingerprint `1&1ov`)
///   stay refused;
/// - `sos`, string–operator–string (`Press '!' to continue`,
///   `Use '-' or '+' signs`), which as SQL is a concatenation probe
///   (`x' || 'y`) that changes no query's structure.
///
/// Not applied to the percent-decoded form: percent-encoded text is not prose.
fn prose_fingerprint(fingerprint: &Fingerprint, value: &[u8]) -> bool {
    let fp = fingerprint.as_str();
    let numeric = fp.bytes().all(|b| matches!(b, b'1' | b'&' | b'o'))
        || (fp.bytes().all(|b| matches!(b, b'1' | b'&' | b'o' | b'v'))
            && std::str::from_utf8(value).is_ok_and(|v| validate_email(v).is_ok()));
    let comment = value.contains(&b'#') || value.windows(2).any(|w| w == b"/*" || w == b"--");
    (numeric || fp == "sos") && !comment
}

/// The value lowercased (ASCII), with `/*…*/` comments and runs of white
/// space each turned into one space: the view [`sql_rules`] reads.
fn sql_view(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        let comment = b == b'/' && s.get(i + 1) == Some(&b'*');
        if comment || b.is_ascii_whitespace() {
            if comment {
                let body = s.get(i + 2..).unwrap_or_default();
                i += 2 + body
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(body.len(), |p| p + 2);
            } else {
                i += 1;
            }
            if out.last() != Some(&b' ') {
                out.push(b' ');
            }
        } else {
            out.push(b.to_ascii_lowercase());
            i += 1;
        }
    }
    out
}

/// Statement starts that follow `;` in a stacked query. Each is a sequence of
/// words; `*` stands for any one identifier. Chosen so that English after a
/// semicolon ("v2; update the docs") does not match.
const STACKED_STATEMENTS: &[&[&[u8]]] = &[
    &[b"drop", b"table"],
    &[b"drop", b"database"],
    &[b"drop", b"schema"],
    &[b"drop", b"user"],
    &[b"drop", b"view"],
    &[b"drop", b"function"],
    &[b"drop", b"procedure"],
    &[b"drop", b"role"],
    &[b"drop", b"trigger"],
    &[b"drop", b"index"],
    &[b"delete", b"from"],
    &[b"insert", b"into"],
    &[b"update", b"*", b"set"],
    &[b"truncate", b"table"],
    &[b"alter", b"table"],
    &[b"alter", b"user"],
    &[b"alter", b"role"],
    &[b"alter", b"database"],
    &[b"alter", b"system"],
    &[b"alter", b"login"],
    &[b"create", b"user"],
    &[b"create", b"table"],
    &[b"create", b"database"],
    &[b"create", b"function"],
    &[b"create", b"procedure"],
    &[b"create", b"role"],
    &[b"create", b"trigger"],
    &[b"create", b"login"],
    &[b"create", b"or", b"replace"],
    &[b"select", b"*", b"from"],
    &[b"waitfor", b"delay"],
    &[b"waitfor", b"time"],
];

/// Prefixes of the word after `;` that start a statement on their own.
const STACKED_PREFIXES: &[&[u8]] = &[
    b"select *",
    b"select @@",
    b"select null",
    b"select pg_sleep(",
    b"select sleep(",
    b"select version(",
    b"select user(",
    b"select current_user",
    b"exec xp_",
    b"exec sp_",
    b"exec master.",
    b"exec(",
    b"execute xp_",
    b"execute sp_",
    b"execute immediate",
    b"execute(",
    b"declare @",
    b"copy (",
];

/// Whether the words of `statement` start `s` (words separated by one space;
/// the last one must end at a word boundary).
fn starts_statement(s: &[u8], statement: &[&[u8]]) -> bool {
    let mut rest = s;
    for (i, word) in statement.iter().enumerate() {
        if i > 0 {
            match rest.strip_prefix(b" ") {
                Some(r) => rest = r,
                None => return false,
            }
        }
        let len = if *word == b"*" {
            rest.iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'`' | b'"'))
                .count()
        } else if rest.starts_with(word) {
            word.len()
        } else {
            0
        };
        if len == 0 {
            return false;
        }
        rest = rest.get(len..).unwrap_or_default();
    }
    !rest
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// This module's SQL rules, for what libinjection lets pass.
fn sql_rules(s: &[u8]) -> Option<SqlRule> {
    if !s.iter().any(|&b| matches!(b, b';' | b'\'' | b'"')) {
        return None;
    }
    let v = sql_view(s);

    // Stacked query: a quote, `)` or digit, then `;`, then a statement.
    for (at, _) in v.iter().enumerate().filter(|(_, b)| **b == b';') {
        let before = v.get(..at).unwrap_or_default();
        let before = before.strip_suffix(b" ").unwrap_or(before);
        let opener = before.is_empty()
            || before
                .last()
                .is_some_and(|b| matches!(b, b'\'' | b'"' | b')' | b'0'..=b'9'));
        if !opener {
            continue;
        }
        let after = v.get(at + 1..).unwrap_or_default();
        let after = after.strip_prefix(b" ").unwrap_or(after);
        let shutdown = after.strip_prefix(b"shutdown").is_some_and(|rest| {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            rest.is_empty()
                || rest.starts_with(b";")
                || rest.starts_with(b"--")
                || rest.starts_with(b"#")
                || rest.starts_with(b"with nowait")
        });
        if shutdown
            || STACKED_STATEMENTS
                .iter()
                .any(|st| starts_statement(after, st))
            || STACKED_PREFIXES.iter().any(|p| after.starts_with(p))
        {
            return Some(SqlRule::StackedQuery);
        }
    }

    // A quote, then a comment that runs to the end: `admin' #`, `admin'-- `.
    let trimmed = v.strip_suffix(b" ").unwrap_or(&v);
    for marker in [&b"--"[..], b"#"] {
        if let Some(before) = trimmed.strip_suffix(marker) {
            let before = before.strip_suffix(b" ").unwrap_or(before);
            if before.last().is_some_and(|b| matches!(b, b'\'' | b'"')) {
                return Some(SqlRule::QuoteThenComment);
            }
        }
    }
    None
}

/// One round of percent-decoding, or `None` when there is no valid `%XX`.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            )
        {
            // Two hex digits: the value is at most 0xFF.
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
            changed = true;
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    changed.then_some(out)
}

/// Schemes that run script when a URL with them is followed.
const SCRIPT_SCHEMES: &[&[u8]] = &[b"javascript:", b"vbscript:", b"livescript:"];

/// `data:` media types that a browser renders as a document or runs as script.
const SCRIPTABLE_DATA_TYPES: &[&[u8]] = &[
    b"text/html",
    b"application/xhtml+xml",
    b"image/svg+xml",
    b"text/xml",
    b"application/xml",
    b"text/javascript",
    b"application/javascript",
    b"application/x-javascript",
    b"text/ecmascript",
];

/// The value as a browser would read a URL in it: character references
/// decoded (those that decode to ASCII), tab, CR and LF removed, ASCII
/// lowercased.
fn url_view(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'&'
            && let Some((decoded, used)) = char_reference(s.get(i + 1..).unwrap_or_default())
        {
            if let Some(d) = decoded {
                out.push(d.to_ascii_lowercase());
            }
            i += 1 + used;
            continue;
        }
        if !matches!(b, b'\t' | b'\n' | b'\r') {
            out.push(b.to_ascii_lowercase());
        }
        i += 1;
    }
    // A reference may have decoded to tab or newline; browsers drop those too.
    out.retain(|&b| !matches!(b, b'\t' | b'\n' | b'\r'));
    out
}

/// Decodes a character reference after `&`: `#NN`, `#xHH` (the `;` optional,
/// as browsers accept) or a few named ones. Returns the ASCII byte (`None` for
/// a character that is dropped or not ASCII) and the bytes consumed.
fn char_reference(s: &[u8]) -> Option<(Option<u8>, usize)> {
    const NAMED: &[(&[u8], u8)] = &[
        (b"colon;", b':'),
        (b"tab;", b'\t'),
        (b"newline;", b'\n'),
        (b"sol;", b'/'),
        (b"lpar;", b'('),
        (b"rpar;", b')'),
        (b"lt;", b'<'),
        (b"gt;", b'>'),
        (b"quot;", b'"'),
        (b"apos;", b'\''),
        (b"amp;", b'&'),
    ];
    if s.first() == Some(&b'#') {
        let (radix, start) = match s.get(1) {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let digits = s
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| char::from(**b).is_digit(radix))
            .count();
        if digits == 0 {
            return None;
        }
        let mut value: u32 = 0;
        for &d in s.get(start..start + digits).unwrap_or_default() {
            let digit = char::from(d).to_digit(radix).unwrap_or(0);
            value = value.saturating_mul(radix).saturating_add(digit);
        }
        let mut used = start + digits;
        if s.get(used) == Some(&b';') {
            used += 1;
        }
        let byte = u8::try_from(value).ok().filter(u8::is_ascii);
        return Some((byte, used));
    }
    NAMED.iter().find_map(|(name, b)| {
        let candidate = s.get(..name.len())?;
        candidate
            .eq_ignore_ascii_case(name)
            .then_some((Some(*b), name.len()))
    })
}

/// Whether the value holds a script URL where one could start a link
/// (see the module documentation).
fn script_url(s: &[u8]) -> bool {
    if !s.iter().any(|&b| b == b':' || b == b'&') {
        return false;
    }
    let v = url_view(s);
    for at in memchr_all(&v, b':') {
        let before = v.get(..at).unwrap_or_default();
        let after = v.get(at + 1..).unwrap_or_default();
        let script = SCRIPT_SCHEMES.iter().find_map(|scheme| {
            let name = scheme.get(..scheme.len() - 1)?;
            before.ends_with(name).then_some(name.len())
        });
        let data = before.ends_with(b"data").then_some(4);
        let Some(name_len) = script.or(data) else {
            continue;
        };
        let start = at - name_len;
        let prev = start.checked_sub(1).and_then(|p| v.get(p)).copied();
        if prev.is_some_and(|p| p.is_ascii_alphanumeric() || matches!(p, b'-' | b'_' | b'.' | b'+'))
        {
            continue; // part of a longer word or scheme
        }
        if data.is_some() && script.is_none() {
            let body = trim_ascii_start(after);
            if SCRIPTABLE_DATA_TYPES.iter().any(|t| {
                body.len() > t.len()
                    && body.get(..t.len()) == Some(*t)
                    && matches!(body.get(t.len()), Some(b';' | b','))
            }) {
                return true;
            }
            continue;
        }
        // A script scheme: refuse unless it reads as prose ("JavaScript: 60%").
        let runs = match after.first() {
            None => false,
            Some(b) if !b.is_ascii_whitespace() => true,
            Some(_) => starts_with_call(trim_ascii_start(after)),
        };
        if runs {
            return true;
        }
    }
    false
}

/// Positions of `needle` in `s`.
fn memchr_all(s: &[u8], needle: u8) -> impl Iterator<Item = usize> + '_ {
    s.iter()
        .enumerate()
        .filter(move |(_, b)| **b == needle)
        .map(|(i, _)| i)
}

fn trim_ascii_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    s.get(n..).unwrap_or_default()
}

/// Whether `s` starts with an identifier directly followed by `(` or a
/// backtick, as in `alert(1)` or ``alert`1` ``.
fn starts_with_call(s: &[u8]) -> bool {
    let ident = s
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.'))
        .count();
    ident > 0
        && s.first().is_some_and(|b| !b.is_ascii_digit())
        && matches!(s.get(ident), Some(b'(' | b'`'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_keeps_printable_prefix() {
        let fp = Fingerprint::from_padded(b"s&1\0\0\0\0\0");
        assert_eq!(fp.as_str(), "s&1");
        assert_eq!(format!("{fp:?}"), "Fingerprint(\"s&1\")");
    }

    #[test]
    fn phrases_are_rewritten_on_word_boundaries_only() {
        let p = |s: &str| String::from_utf8(prepare_for_sqli(s.as_bytes())).unwrap();
        assert_eq!(p("1 lock in share mode x"), "1 LINES              x");
        assert_eq!(p("a is\t not distinct from b"), "a UESCAPE               b");
        assert_eq!(p("we lock in"), "we lock in");
        assert_eq!(p("block in share mode"), "block in share mode");
        assert_eq!(p("@lock in share mode"), "@lock in share mode");
        assert_eq!(p("lock in share model"), "lock in share model");
        assert_eq!(p("(at time zone)"), "(AGAINST     )");
        assert_eq!(p("Into the \\n INTO outfile"), "INTO the \\n INTO outfile");
    }

    #[test]
    fn percent_decoding_needs_two_hex_digits() {
        assert_eq!(percent_decode(b"50% off"), None);
        assert_eq!(percent_decode(b"%3Cb%3e%"), Some(b"<b>%".to_vec()));
        assert_eq!(percent_decode(b"%zz%4"), None);
    }

    #[test]
    fn url_view_decodes_references_and_drops_whitespace() {
        assert_eq!(url_view(b"Java&#x09;Script&colon;x"), b"javascript:x");
        assert_eq!(url_view(b"&#106&#97;v\na"), b"java");
        assert_eq!(url_view(b"&#99999999999;a"), b"a");
        assert_eq!(url_view(b"AT&T"), b"at&t");
    }

    #[test]
    fn sql_view_folds_comments_and_space() {
        assert_eq!(sql_view(b"';/**/DROP\t\n TABLE/*x"), b"'; drop table ");
    }

    #[test]
    fn stacked_queries() {
        for bad in [
            "'; DROP TABLE users--",
            "1; DELETE FROM tenants",
            "\"; update users set role='admin'",
            "1) ; truncate table audit",
            "'; EXEC xp_cmdshell('dir')--",
            "1; SHUTDOWN",
            "1;shutdown with nowait",
            "';SELECT * FROM users;--",
            "'; waitfor delay '0:0:5'",
            "; drop table x",
        ] {
            assert_eq!(
                sql_rules(bad.as_bytes()),
                Some(SqlRule::StackedQuery),
                "{bad}"
            );
        }
        for ok in [
            "We shipped v2; update your clients",
            "Phase 2; shutdown of the old DC",
            "Clean up when done; drop table foo",
            "Pick one; select the best from the list",
            "Step 3; create a new project",
            "50% off; use code: SAVE-20",
        ] {
            assert_eq!(sql_rules(ok.as_bytes()), None, "{ok}");
        }
    }

    #[test]
    fn quote_then_comment() {
        for bad in ["admin' #", "admin'-- ", "x\" --", "admin'/**/--"] {
            assert_eq!(
                sql_rules(bad.as_bytes()),
                Some(SqlRule::QuoteThenComment),
                "{bad}"
            );
        }
        for ok in ["'Alpha' -- 'Beta'", "it's -- fine", "#1 priority", "--"] {
            assert_eq!(sql_rules(ok.as_bytes()), None, "{ok}");
        }
    }

    #[test]
    fn prose_fingerprints_need_no_comment() {
        let fp = |s: &[u8]| Fingerprint::from_padded(s);
        assert!(prose_fingerprint(&fp(b"1&1"), b"1 and 2 and 3"));
        assert!(prose_fingerprint(&fp(b"sos"), b"Press '!' to continue"));
        assert!(prose_fingerprint(&fp(b"1ov"), b"1*@example.org"));
        assert!(prose_fingerprint(
            &fp(b"1ov"),
            "0~\u{be}*@\u{111}".as_bytes()
        ));
        assert!(!prose_fingerprint(&fp(b"1ov"), b"1-@@version"));
        assert!(!prose_fingerprint(&fp(b"1&1ov"), b"1 or 1=@@version"));
        assert!(!prose_fingerprint(&fp(b"1ov"), b"1*@example.org --"));
        assert!(!prose_fingerprint(&fp(b"sov"), b"' - @x.org"));
        assert!(!prose_fingerprint(&fp(b"1&1"), b"1 /**/ or 1=1"));
        assert!(!prose_fingerprint(&fp(b"sos"), b"x' + 'y' #"));
        assert!(!prose_fingerprint(&fp(b"1&1c"), b"1 or 1=1 --"));
        assert!(!prose_fingerprint(&fp(b"s&1"), b"' or 1"));
        assert!(!prose_fingerprint(&fp(b"sos1"), b"' + ' 1"));
    }

    #[test]
    fn script_urls() {
        for bad in [
            "javascript:alert(1)",
            " JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "javascript&#58;alert(1)",
            "[x](javascript:alert(1))",
            "x=\"javascript:alert(1)\"",
            "javascript: alert(document.cookie)",
            "vbscript:msgbox(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "data: image/svg+xml,<svg/onload=alert(1)>",
        ] {
            assert!(script_url(bad.as_bytes()), "{bad}");
        }
        for ok in [
            "JavaScript: 60%, Rust: 40%",
            "Skills: JavaScript: React (hooks)",
            "data: 5 GB per day",
            "metadata:text/html,",
            "see https://example.com/a:b",
            "myjavascript:x",
            "javascript:",
        ] {
            assert!(!script_url(ok.as_bytes()), "{ok}");
        }
    }
}
