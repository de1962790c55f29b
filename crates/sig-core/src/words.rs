//! Where a word's coefficient sits in a flat signature, and back.

use crate::alloc::try_vec;
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
///
/// `idx` is at most `isize::MAX` (no array is longer), else
/// `InvalidArgument`; the word's length is worked out first and its room
/// reserved fallibly, so a word too long for memory (one letter: the word
/// at `idx` has `idx + 1` letters) is `OutOfMemory`, never an abort.
///
/// ```
/// assert_eq!(sig_core::words::idx_to_word(3, 2, false).unwrap(), vec![0, 1]);
/// ```
pub fn idx_to_word(idx: usize, dim: usize, scalar_term: bool) -> Result<Vec<usize>> {
    if dim == 0 {
        return Err(SigError::invalid("alphabet_size", "a positive alphabet size", 0));
    }
    if idx > isize::MAX as usize {
        return Err(SigError::invalid("idx", format!("an index of a signature, at most {} (no array is longer)", isize::MAX), idx));
    }
    // Bijective base-d numeration: digits 1..=d map to letters 0..d-1.
    let rest = if scalar_term { idx } else { idx + 1 };
    let len = if dim == 1 {
        rest
    } else {
        // checked_sub: the successor of the final 0 is never needed, and `0 - 1`
        // would panic in debug builds.
        std::iter::successors(Some(rest), |&r| r.checked_sub(1).map(|r| r / dim)).take_while(|&r| r > 0).count()
    };
    let mut word = try_vec(&format!("the word at index {idx} ({len} letters)"), len, 0usize)?;
    if dim > 1 {
        let mut rest = rest;
        for letter in word.iter_mut().rev() {
            *letter = (rest - 1) % dim;
            rest = (rest - 1) / dim;
        }
    }
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

    #[test]
    fn idx_to_word_checks_its_arguments_and_never_aborts() {
        assert_eq!(idx_to_word(0, 1, false).unwrap(), vec![0]);
        assert_eq!(idx_to_word(4, 1, false).unwrap(), vec![0; 5]);
        assert_eq!(idx_to_word(0, 3, true).unwrap(), Vec::<usize>::new());
        let big = usize::MAX / 2;
        let w = idx_to_word(big, 2, true).unwrap();
        assert_eq!(word_to_idx(&w, 2, true).unwrap(), big);
        let e = idx_to_word(usize::MAX, 3, true).unwrap_err();
        assert!(matches!(&e, SigError::InvalidArgument { name: "idx", .. }), "{e:?}");
        assert!(matches!(idx_to_word(3, 0, true), Err(SigError::InvalidArgument { name: "alphabet_size", .. })));
        // One letter: the word at 2^40 has 2^40 + 1 letters (8 TB).
        let e = idx_to_word(1 << 40, 1, false).unwrap_err();
        assert!(matches!(&e, SigError::OutOfMemory { what, .. } if what.contains("index 1099511627776")), "{e:?}");
    }
}
