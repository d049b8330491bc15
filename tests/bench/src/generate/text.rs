//! Seeded filler text whose token count is known: every word is three ASCII
//! letters, so with its leading space it is one 4-byte piece, which the
//! simulator's tokenizer (and BPE tokenizers, roughly) turn into one token.

use rand::{Rng, rngs::StdRng};

/// `tokens` words drawn from `rng`, separated by single spaces.
pub fn words(rng: &mut StdRng, tokens: usize) -> String {
    let mut text = String::with_capacity(tokens * 4);
    for i in 0..tokens {
        if i > 0 {
            text.push(' ');
        }
        for _ in 0..3 {
            text.push(char::from(b'a' + rng.random_range(0..26u8)));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn one_word_per_token_and_seeded() {
        let text = words(&mut StdRng::seed_from_u64(1), 50);
        assert_eq!(text.split(' ').count(), 50);
        assert!(text.split(' ').all(|w| w.len() == 3));
        assert_eq!(text, words(&mut StdRng::seed_from_u64(1), 50));
        assert_ne!(text, words(&mut StdRng::seed_from_u64(2), 50));
    }
}
