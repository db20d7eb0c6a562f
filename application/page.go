package application

import (
	"strconv"

	"authd/domain"
)

// Page size bounds of admin listings.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// Page is a validated request for one page of an admin listing: at most
// Limit items whose id is greater than After. Build it with ParsePage; the
// zero Page is the first page of the default size.
type Page struct {
	limit int
	after int64
}

// ParsePage reads a listing's raw limit and after parameters as received
// (either may be empty): limit an integer from 1 to MaxPageSize, default
// DefaultPageSize; after a non-negative id, default 0 (the first page). It
// returns a *domain.ValidationError naming every bad parameter.
func ParsePage(limit, after string) (Page, error) {
	var verr domain.ValidationError
	p := Page{limit: DefaultPageSize}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxPageSize {
			verr.Add("limit", "must be between 1 and 100")
		}
		p.limit = n
	}
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 0 {
			verr.Add("after", "must be a non-negative integer")
		}
		p.after = n
	}
	if err := verr.Err(); err != nil {
		return Page{}, err
	}
	return p, nil
}

// MustParsePage is ParsePage for tests; it panics on error.
func MustParsePage(limit, after string) Page {
	p, err := ParsePage(limit, after)
	if err != nil {
		panic(err)
	}
	return p
}

// Limit returns the page size.
func (p Page) Limit() int {
	if p.limit == 0 {
		return DefaultPageSize
	}
	return p.limit
}

// After returns the id the page starts after.
func (p Page) After() int64 { return p.after }

// cutPage trims items fetched with one extra row to the page size and
// returns the cursor of the next page: the id of the last row kept, or
// zero when nothing follows.
func cutPage[T any](items []T, p Page, id func(T) int64) ([]T, int64) {
	n := p.Limit()
	if len(items) <= n {
		return items, 0
	}
	items = items[:n]
	return items, id(items[n-1])
}
