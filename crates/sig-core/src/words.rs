//! Where a word's coefficient sits in a flat signature, and back.

use crate::error::{Result, SigError};

/// Flat index of `word` (letters in `0..dim`) in a signature laid out level
/// by level in lexicographic order; with `scalar_term` the empty word is at 0.
///
/// ```
/// assert_eq!(sig_core::words::word_to_idx(&[0, 1], 2, false).unwrap(), 3);
/// ```
pub fn word_to_idx(word: &[usize], dim: usize, scalar_term: bool) -> Result<usize> {
    if word.is_empty() && !scalar_term {
        return Err(SigError::invalid(
            "word",
            "a non-empty word (the empty word has an index only with scalar_term=True)",
            "()",
        ));
    }
    let mut idx: usize = 0;
    for &letter in word {
        if letter >= dim {
            return Err(SigError::invalid("word", format!("letters in [0, {dim})"), letter));
        }
        idx = idx
            .checked_mul(dim)
            .and_then(|i| i.checked_add(letter + 1))
            .ok_or_else(|| SigError::Overflow(format!("the index of a word of length {}", word.len())))?;
    }
    Ok(if scalar_term { idx } else { idx - 1 })
}

/// The word whose coefficient sits at flat index `idx` (inverse of
/// [`word_to_idx`]).
pub fn idx_to_word(idx: usize, dim: usize, scalar_term: bool) -> Result<Vec<usize>> {
    if dim == 0 {
        return Err(SigError::invalid("alphabet_size", "a positive alphabet size", 0));
    }
    // Bijective base-d numeration: digits 1..=d map to letters 0..d-1.
    let mut rest = if scalar_term {
        idx
    } else {
        idx.checked_add(1)
            .ok_or_else(|| SigError::Overflow(format!("index {idx}")))?
    };
    let mut word = Vec::new();
    while rest > 0 {
        let digit = (rest - 1) % dim;
        word.push(digit);
        rest = (rest - 1) / dim;
    }
    word.reverse();
    Ok(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_and_index_round_trip_in_lexicographic_order() {
        let dim: usize = 3;
        let mut idx = 0;
        for len in 1..=4u32 {
            for n in 0..dim.pow(len) {
                let word: Vec<usize> = (0..len).rev().map(|p| n / dim.pow(p) % dim).collect();
                assert_eq!(word_to_idx(&word, dim, false).unwrap(), idx);
                assert_eq!(idx_to_word(idx, dim, false).unwrap(), word);
                idx += 1;
            }
        }
        assert_eq!(word_to_idx(&[], 2, true).unwrap(), 0);
        assert!(word_to_idx(&[], 2, false).is_err());
        assert!(word_to_idx(&[2], 2, false).is_err());
    }
}
