//! A deterministic approximate tokenizer and the simulator's output vocabulary.
//!
//! Text is cut into pieces the way BPE pre-tokenizers do: a run of letters, a
//! run of at most three digits, one punctuation character, one newline, or a
//! run of other whitespace; a single space attaches to the piece after it.
//! Pieces longer than four bytes are cut into four-byte chunks (on character
//! boundaries), each chunk one token. English prose comes out at roughly 3.5
//! bytes per token. Because pieces never span a class change, equal text
//! prefixes give equal token prefixes up to the last piece of the shorter one,
//! which is what prefix caching needs.

use xxhash_rust::xxh3::xxh3_64;

/// Size of the id space (Llama-3's vocabulary size).
pub const VOCAB_SIZE: u32 = 128_256;

/// Longest token in bytes.
const MAX_TOKEN_BYTES: usize = 4;

/// Splits `text` into tokens and returns their ids.
pub fn tokenize(text: &str) -> Vec<u32> {
    let mut ids = Vec::with_capacity(text.len() / 3 + 1);
    for_each_token(text, |token| ids.push(token_id(token)));
    ids
}

/// The id of one token's text.
pub fn token_id(token: &str) -> u32 {
    (xxh3_64(token.as_bytes()) % u64::from(VOCAB_SIZE)) as u32
}

/// Calls `f` with the text of every token of `text`, in order.
fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    let mut rest = text;
    while !rest.is_empty() {
        let len = piece_len(rest);
        let (piece, tail) = rest.split_at(len);
        chunk(piece, &mut f);
        rest = tail;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    Newline,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_alphabetic() {
        Class::Letter
    } else if c.is_ascii_digit() {
        Class::Digit
    } else if c == '\n' {
        Class::Newline
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Other
    }
}

/// Byte length of the piece at the start of `s` (non-empty).
fn piece_len(s: &str) -> usize {
    let mut chars = s.char_indices().peekable();
    let Some((_, first)) = chars.next() else {
        return 0;
    };
    let mut start_class = class(first);
    let mut digits = usize::from(start_class == Class::Digit);
    // A single space attaches to a following letter, digit or punctuation run.
    if first == ' ' {
        match chars.peek() {
            Some(&(_, c)) if matches!(class(c), Class::Letter | Class::Digit | Class::Other) => {
                start_class = class(c);
                digits = usize::from(start_class == Class::Digit);
                chars.next();
                if start_class == Class::Other {
                    return 1 + c.len_utf8();
                }
            }
            _ => {}
        }
    }
    match start_class {
        Class::Newline | Class::Other => return first.len_utf8(),
        Class::Letter | Class::Digit | Class::Space => {}
    }
    for (i, c) in chars {
        if class(c) != start_class {
            return i;
        }
        if start_class == Class::Digit {
            if digits == 3 {
                return i;
            }
            digits += 1;
        }
    }
    s.len()
}

/// Cuts a piece into chunks of at most [`MAX_TOKEN_BYTES`] bytes.
fn chunk(piece: &str, f: &mut impl FnMut(&str)) {
    let mut rest = piece;
    while !rest.is_empty() {
        let mut end = rest.len().min(MAX_TOKEN_BYTES);
        // A char is at most four bytes, so this stops at a non-empty chunk.
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (head, tail) = rest.split_at(end);
        f(head);
        rest = tail;
    }
}

/// The pieces generated text is made of. Each is exactly one token, and any
/// concatenation of them tokenizes back into the same tokens, so a client that
/// sends a generated answer back in the next turn hits the cached output blocks.
pub const OUTPUT_PIECES: &[&str] = &[
    " the", " a", " of", " to", " and", " in", " is", " it", " for", " on", " we", " can", " be",
    " as", " at", " by", " or", " an", " so", " if", " do", " not", " but", " all", " new", " one",
    " how", " use", " run", " GPU", " KV", " LLM", " way", " fit", " set", " key", " low", " few",
    " per", " out", ".", ",",
];

/// Text and token id of output piece `index` (taken modulo the vocabulary).
pub fn output_piece(index: usize) -> (&'static str, u32) {
    let text = OUTPUT_PIECES[index % OUTPUT_PIECES.len()];
    (text, token_id(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_token(text, |t| out.push(t.to_string()));
        out
    }

    #[test]
    fn splits_like_a_pretokenizer() {
        assert_eq!(
            pieces("Hello world, 12345!\n\n  x"),
            [
                "Hell", "o", " wor", "ld", ",", " 123", "45", "!", "\n", "\n", "  ", "x"
            ]
        );
    }

    #[test]
    fn equal_prefixes_give_equal_token_prefixes() {
        let base = "System: you are a helpful assistant. Answer briefly.\n";
        let a = tokenize(&format!("{base}Question one?"));
        let b = tokenize(&format!("{base}Another question entirely"));
        let prefix = tokenize(base);
        assert_eq!(&a[..prefix.len()], prefix.as_slice());
        assert_eq!(&b[..prefix.len()], prefix.as_slice());
    }

    #[test]
    fn output_pieces_are_single_tokens_that_concatenate_cleanly() {
        let mut text = String::from("<|assistant|>\n");
        let mut expected = tokenize(&text);
        for i in 0..200 {
            let (piece, id) = output_piece(i * 7 + 3);
            assert_eq!(tokenize(piece), [id], "{piece:?}");
            text.push_str(piece);
            expected.push(id);
        }
        assert_eq!(tokenize(&text), expected);
    }

    #[test]
    fn handles_any_unicode_without_panicking() {
        let text = "naïve café — 日本語テキスト 🚀🚀 \u{0301}\t\r\n";
        let ids = tokenize(text);
        assert!(!ids.is_empty());
        assert!(ids.iter().all(|&id| id < VOCAB_SIZE));
    }

    #[test]
    fn english_prose_is_about_three_and_a_half_bytes_per_token() {
        let text = "The quick brown fox jumps over the lazy dog while the model \
                    serves many concurrent requests from a shared prefix cache.";
        let ratio = text.len() as f64 / tokenize(text).len() as f64;
        assert!((3.0..4.5).contains(&ratio), "{ratio}");
    }
}
