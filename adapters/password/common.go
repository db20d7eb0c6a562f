package password

import (
	"iter"
	"strings"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/frequency"

	"authd/domain"
)

// zxcvbnChunkRunes bounds each input given to zxcvbn. Its matching is
// super-linear in the length of the password (measured on this codebase's
// machine: 16 runes ≈ 1 ms, 24 ≈ 3.5 ms, 64 ≈ 80 ms, 128 ≈ 1.5 s), so longer
// passwords are scored chunk by chunk and the guesses multiplied, as zxcvbn
// itself multiplies the guesses of consecutive matches. A pattern cut by a
// chunk boundary is slightly overestimated, which only matters for
// passwords already longer than a chunk.
const zxcvbnChunkRunes = 20

// weakGuesses is zxcvbn's boundary between score 1 and score 2.
const weakGuesses = 1e6 + 5

// minDistinctRunes: a 12-character password drawn from 3 symbols has
// 3^12 ≈ 5·10^5 candidates, below zxcvbn's score-2 threshold of 10^6.
const minDistinctRunes = 4

// CommonPasswords implements domain.CommonPasswordChecker: a password is
// common when it appears, ignoring case, in zxcvbn's list of the most used
// passwords, or when zxcvbn scores it 0 or 1 (fewer than about a million
// guesses: repeats, keyboard walks, sequences, dictionary words).
//
// zxcvbn's repeat matcher only sees ASCII, so repetition is also checked
// here: fewer than four distinct characters, or the whole password being one
// unit repeated ("äöüäöüäöüäöü"), count as common. NIST SP 800-63B lists
// repetitive characters among what a blocklist should refuse.
type CommonPasswords struct {
	list map[string]struct{}
}

var _ domain.CommonPasswordChecker = (*CommonPasswords)(nil)

// NewCommonPasswords builds the list once; the result is safe for
// concurrent use.
func NewCommonPasswords() *CommonPasswords {
	words := frequency.FrequencyLists["passwords"]
	c := &CommonPasswords{list: make(map[string]struct{}, len(words))}
	for _, w := range words {
		c.list[strings.ToLower(w)] = struct{}{}
	}
	return c
}

// IsCommon reports whether pw is a common or easily guessed password.
func (c *CommonPasswords) IsCommon(pw string) bool {
	lower := strings.ToLower(pw)
	if _, ok := c.list[lower]; ok {
		return true
	}
	if isRepetitive(lower) {
		return true
	}
	guesses := 1.0
	for chunk := range chunks(pw, zxcvbnChunkRunes) {
		guesses *= zxcvbn.PasswordStrength(chunk, nil).Guesses
		if guesses >= weakGuesses {
			return false
		}
	}
	return true
}

// isRepetitive reports whether s has fewer than minDistinctRunes distinct
// code points or is a shorter string repeated (s occurs inside s+s other than
// at the two ends exactly when s is periodic).
func isRepetitive(s string) bool {
	seen := make(map[rune]struct{}, minDistinctRunes)
	for _, r := range s {
		seen[r] = struct{}{}
		if len(seen) >= minDistinctRunes {
			break
		}
	}
	if len(seen) < minDistinctRunes {
		return true
	}
	return strings.Contains((s + s)[1:2*len(s)-1], s)
}

// chunks yields s in pieces of at most n code points.
func chunks(s string, n int) iter.Seq[string] {
	return func(yield func(string) bool) {
		start, count := 0, 0
		for i := range s {
			if count == n {
				if !yield(s[start:i]) {
					return
				}
				start, count = i, 0
			}
			count++
		}
		if start < len(s) {
			yield(s[start:])
		}
	}
}
