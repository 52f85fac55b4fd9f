//! The ways a reader (a browser, a mail client, a JSON or C-string parser) may read a server's
//! text, each with the raw range that every byte it reads came from, so that a secret found
//! in any reading is replaced where it stands in the raw text.

use super::BASE64;

/// A reading of a raw text: its bytes, each with the raw range it came from.
pub(super) type View = (Vec<u8>, Vec<(usize, usize)>);

/// Escapes inside escapes (`&amp;#77;`, `%26%2377%3B`, `\\x4d` in JSON) are decoded this many
/// times at most.
const MAX_ROUNDS: usize = 4;

/// Bytes that can start an escape: a text without them (and without non-ASCII characters to
/// fold) reads as it is sent.
pub(super) fn plain(b: &u8) -> bool {
    b.is_ascii() && !matches!(b, b'%' | b'\\' | b'&' | b'=')
}

/// Shows `visit` every reading of `raw` (each with the raw range of its every byte), one at a
/// time: as sent, then with escapes decoded (again and again while escapes are left) and
/// characters folded as a reader sees them. Quoted-printable's `=XX` reads differently from a
/// `key=value` whose value starts with two hex digits, so it is decoded in readings of its
/// own, next to the ones without it.
pub(super) fn each_view(raw: &[u8], mut visit: impl FnMut(&[u8], &[(usize, usize)])) {
    let identity: Vec<(usize, usize)> = (0..raw.len()).map(|i| (i, i + 1)).collect();
    visit(raw, &identity);
    let mut quoted_printable = has_quoted_printable(raw);
    for qp in [false, true] {
        if qp && !quoted_printable {
            break;
        }
        let mut last: Option<View> = None;
        for _ in 0..MAX_ROUNDS {
            let (text, from) = last.as_ref().map_or((raw, identity.as_slice()), |(t, f)| {
                (t.as_slice(), f.as_slice())
            });
            let Some(next) = round(text, from, qp, last.is_some()) else {
                break;
            };
            visit(&next.0, &next.1);
            quoted_printable |= has_quoted_printable(&next.0);
            let quiet = next.0.iter().all(plain);
            last = Some(next);
            if quiet {
                break;
            }
        }
    }
}

/// Every reading of `raw`, as [`each_view`] shows them.
#[cfg(test)]
pub(super) fn views(raw: &[u8]) -> Vec<View> {
    let mut all = Vec::new();
    each_view(raw, |text, from| all.push((text.to_vec(), from.to_vec())));
    all
}

fn has_quoted_printable(text: &[u8]) -> bool {
    text.windows(3).any(|w| {
        w[0] == b'='
            && ((w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
                || matches!(w[1], b'\r' | b'\n'))
    })
}

/// One more reading of `text` (whose bytes came from the raw ranges `from`): escapes decoded,
/// then characters folded (unless `folded` says they are: folding twice changes nothing);
/// `None` when it reads as it is.
fn round(text: &[u8], from: &[(usize, usize)], qp: bool, folded: bool) -> Option<View> {
    let (decoded, local, changed) = decoded(text, qp);
    if !changed && (folded || text.is_ascii()) {
        return None;
    }
    let raw: Vec<(usize, usize)> = local
        .iter()
        .map(|&(s, e)| (from[s].0, from[e - 1].1))
        .collect();
    let view = normalized(&decoded, &raw);
    (view.0 != text).then_some(view)
}

fn hex_value(s: &[u8]) -> Option<u32> {
    std::str::from_utf8(s)
        .ok()
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|h| u32::from_str_radix(h, 16).ok())
}

/// The character of a `\u`, `%u` or `&#x` escape's number, written into `buf`: its length.
fn char_into(code: Option<u32>, buf: &mut [u8; 4]) -> Option<usize> {
    Some(char::from_u32(code?)?.encode_utf8(buf).len())
}

/// One byte written into `buf`.
fn put(buf: &mut [u8; 4], byte: u32) -> usize {
    buf[0] = byte as u8;
    1
}

/// The named entities of the ASCII punctuation a secret may hold (and the no-break space).
const ENTITIES: &[(&str, char)] = &[
    ("amp", '&'),
    ("AMP", '&'),
    ("lt", '<'),
    ("LT", '<'),
    ("gt", '>'),
    ("GT", '>'),
    ("quot", '"'),
    ("QUOT", '"'),
    ("apos", '\''),
    ("sol", '/'),
    ("bsol", '\\'),
    ("plus", '+'),
    ("equals", '='),
    ("percnt", '%'),
    ("num", '#'),
    ("excl", '!'),
    ("dollar", '$'),
    ("lpar", '('),
    ("rpar", ')'),
    ("ast", '*'),
    ("midast", '*'),
    ("comma", ','),
    ("period", '.'),
    ("colon", ':'),
    ("semi", ';'),
    ("quest", '?'),
    ("commat", '@'),
    ("lsqb", '['),
    ("lbrack", '['),
    ("rsqb", ']'),
    ("rbrack", ']'),
    ("Hat", '^'),
    ("lowbar", '_'),
    ("UnderBar", '_'),
    ("grave", '`'),
    ("lcub", '{'),
    ("lbrace", '{'),
    ("rcub", '}'),
    ("rbrace", '}'),
    ("verbar", '|'),
    ("vert", '|'),
    ("VerticalLine", '|'),
    ("nbsp", '\u{A0}'),
];

/// The escape at the start of `rest`, decoded into `buf`: (bytes written, bytes used), or
/// `None` when `rest` starts with no escape.
fn escape(rest: &[u8], qp: bool, buf: &mut [u8; 4]) -> Option<(usize, usize)> {
    let hex_at = |from: usize, len: usize| rest.get(from..from + len).and_then(hex_value);
    match *rest {
        [b'%', b'u' | b'U', ..] => Some((char_into(hex_at(2, 4), buf)?, 6)),
        [b'%', ..] => Some((put(buf, hex_at(1, 2)?), 3)),
        [b'\\', b'u', b'{', ..] => {
            let len = rest.iter().skip(3).take(7).position(|&b| b == b'}')?;
            Some((char_into(hex_at(3, len), buf)?, len + 4))
        }
        [b'\\', b'u', ..] => Some((char_into(hex_at(2, 4), buf)?, 6)),
        [b'\\', b'U', ..] => Some((char_into(hex_at(2, 8), buf)?, 10)),
        [b'\\', b'x', ..] => Some((put(buf, hex_at(2, 2)?), 4)),
        [b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] => Some((
            put(
                buf,
                u32::from(a - b'0') << 6 | u32::from(b - b'0') << 3 | u32::from(c - b'0'),
            ),
            4,
        )),
        [b'\\', p, ..] if p.is_ascii_punctuation() => Some((put(buf, p.into()), 2)),
        [b'&', b'#', b'x' | b'X', ..] => {
            let len = rest.iter().skip(3).take(8).position(|&b| b == b';')?;
            Some((char_into(hex_at(3, len), buf)?, len + 4))
        }
        [b'&', b'#', ..] => {
            let len = rest.iter().skip(2).take(9).position(|&b| b == b';')?;
            let digits = rest
                .get(2..2 + len)
                .filter(|d| d.iter().all(u8::is_ascii_digit));
            let code = std::str::from_utf8(digits?).ok()?.parse().ok();
            Some((char_into(code, buf)?, len + 3))
        }
        [b'&', ..] => {
            let len = rest.iter().skip(1).take(13).position(|&b| b == b';')?;
            let name = std::str::from_utf8(&rest[1..1 + len]).ok()?;
            let (_, c) = ENTITIES.iter().find(|(n, _)| *n == name)?;
            Some((c.encode_utf8(buf).len(), len + 2))
        }
        [b'=', b'\r', b'\n', ..] if qp => Some((0, 3)),
        [b'=', b'\n', ..] if qp => Some((0, 2)),
        [b'=', ..] if qp => Some((put(buf, hex_at(1, 2)?), 3)),
        _ => None,
    }
}

/// A MIME encoded-word (`=?UTF-8?Q?...?=` or `=?UTF-8?B?...?=`) at the start of `rest`: its
/// bytes, each with the range in `rest` it came from, and the length of the word.
fn encoded_word(rest: &[u8]) -> Option<(View, usize)> {
    let body = rest.strip_prefix(b"=?")?;
    let charset = body.iter().take(64).position(|&b| b == b'?')?;
    if charset == 0 || !body[..charset].iter().all(u8::is_ascii_graphic) {
        return None;
    }
    let (kind, start) = match body.get(charset + 1..charset + 3)? {
        [k, b'?'] => (k.to_ascii_uppercase(), charset + 5),
        _ => return None,
    };
    let len = rest[start..]
        .iter()
        .position(|&b| b == b'?' || b.is_ascii_whitespace())?;
    if !rest[start + len..].starts_with(b"?=") {
        return None;
    }
    let text = &rest[start..start + len];
    let mut out: Vec<(u8, usize, usize)> = Vec::with_capacity(len);
    match kind {
        b'Q' => {
            let mut j = 0;
            while j < text.len() {
                match text[j..] {
                    [b'=', a, b, ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
                        out.push((hex_value(&text[j + 1..j + 3])? as u8, j, j + 3));
                        j += 3;
                    }
                    [c, ..] => {
                        out.push((if c == b'_' { b' ' } else { c }, j, j + 1));
                        j += 1;
                    }
                    [] => break,
                }
            }
        }
        b'B' => {
            let letters = text.iter().take_while(|&&b| b != b'=');
            let values: Vec<u32> = letters
                .map(|&b| {
                    let b = match b {
                        b'-' => b'+',
                        b'_' => b'/',
                        b => b,
                    };
                    BASE64.iter().position(|&l| l == b).map(|v| v as u32)
                })
                .collect::<Option<_>>()?;
            for (g, group) in values.chunks(4).enumerate() {
                let bits = group.iter().fold(0u32, |v, &l| v << 6 | l) << (6 * (4 - group.len()));
                // Byte k of a group is made of its letters k and k + 1.
                for k in 0..group.len().saturating_sub(1) {
                    out.push(((bits >> (16 - 8 * k)) as u8, 4 * g + k, 4 * g + k + 2));
                }
            }
        }
        _ => return None,
    }
    let spans = out
        .iter()
        .map(|&(_, s, e)| (start + s, start + e))
        .collect();
    Some((
        (out.into_iter().map(|b| b.0).collect(), spans),
        start + len + 2,
    ))
}

/// The text with escapes decoded once, each byte with the range of `raw` it came from, and
/// whether any escape was decoded: `%XX` and `%uXXXX`; `\uXXXX` (outside the surrogate
/// range), `\u{X}`, `\UXXXXXXXX`, `\xXX`, octal `\101` and a backslash before punctuation;
/// HTML/XML entities (`&#65;`, `&#x41;`, `&amp;`); MIME encoded-words (adjacent ones joined,
/// as RFC 2047 reads them); with `qp`, quoted-printable's `=XX` and soft line breaks.
fn decoded(raw: &[u8], qp: bool) -> (Vec<u8>, Vec<(usize, usize)>, bool) {
    let (mut out, mut from) = (Vec::with_capacity(raw.len()), Vec::with_capacity(raw.len()));
    let mut changed = false;
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        // Bytes that start no escape, copied at once.
        let run = rest
            .iter()
            .position(|b| matches!(b, b'%' | b'\\' | b'&' | b'='));
        let run = run.unwrap_or(rest.len());
        if run > 0 {
            out.extend_from_slice(&rest[..run]);
            from.extend((i..i + run).map(|k| (k, k + 1)));
            i += run;
            continue;
        }
        if rest.starts_with(b"=?") {
            if let Some(((bytes, spans), used)) = encoded_word(rest) {
                out.extend_from_slice(&bytes);
                from.extend(spans.iter().map(|&(s, e)| (i + s, i + e)));
                i += used;
                let gap = raw[i..]
                    .iter()
                    .take_while(|b| b.is_ascii_whitespace())
                    .count();
                if gap > 0 && encoded_word(&raw[i + gap..]).is_some() {
                    i += gap;
                }
                changed = true;
                continue;
            }
        }
        let mut buf = [0u8; 4];
        let (len, used) = match escape(rest, qp, &mut buf) {
            Some(found) => found,
            None => {
                buf[0] = rest[0];
                (1, 1)
            }
        };
        changed |= used > 1 || len != 1;
        out.extend_from_slice(&buf[..len]);
        from.extend(std::iter::repeat_n((i, i + used), len));
        i += used;
    }
    (out, from, changed)
}

/// Characters that take no room on screen and may be slipped between a secret's letters:
/// format characters (zero-width spaces and joiners, bidi marks, the BOM, the soft hyphen),
/// variation selectors, fillers and tags.
fn hidden(c: char) -> bool {
    crate::normalize::is_invisible(c)
        || matches!(c,
            '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FFA0}' | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// The decoded text as a reader sees it, with the raw range of each byte: each character in
/// its NFKC form (`Ａ` is `A`), invisible ones left out; bytes that are not UTF-8 as they are.
fn normalized(text: &[u8], from: &[(usize, usize)]) -> View {
    let nfkc = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc();
    let (mut out, mut to) = (
        Vec::with_capacity(text.len()),
        Vec::with_capacity(text.len()),
    );
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii() {
            out.push(text[i]);
            to.push(from[i]);
            i += 1;
            continue;
        }
        let ch = (i + 2..=(i + 4).min(text.len()))
            .find_map(|end| std::str::from_utf8(&text[i..end]).ok().map(|c| (c, end)));
        let Some((ch, end)) = ch else {
            out.push(text[i]);
            to.push(from[i]);
            i += 1;
            continue;
        };
        let range = (from[i].0, from[end - 1].1);
        if !ch.chars().any(hidden) {
            let folded = nfkc.normalize(ch);
            out.extend_from_slice(folded.as_bytes());
            to.extend(std::iter::repeat_n(range, folded.len()));
        }
        i = end;
    }
    (out, to)
}
