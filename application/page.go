package application

import "authd/domain"

// Page size bounds of admin listings.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// pageLimit returns the page size for a requested limit (zero means
// DefaultPageSize) and records an out-of-range limit or negative cursor in
// verr.
func pageLimit(limit int, after int64, verr *domain.ValidationError) int {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		verr.Add("limit", "must be between 1 and 100")
	}
	if after < 0 {
		verr.Add("after", "must not be negative")
	}
	return limit
}

// cutPage trims items fetched with one extra row to want rows and returns
// the cursor of the next page: the id of the last row kept, or zero when
// nothing follows.
func cutPage[T any](items []T, want int, id func(T) int64) ([]T, int64) {
	if len(items) <= want {
		return items, 0
	}
	items = items[:want]
	return items, id(items[want-1])
}
