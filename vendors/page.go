package vendors

import (
	"strconv"
	"strings"
)

// The one paging model of every vendor client, whatever the vendor's own
// scheme (offset, page number, vendor cursor): a list method takes a
// PageRequest and returns a Page whose Next is an opaque cursor made by the
// client itself. Tools and the cross-vendor search pass cursors through and
// never learn a scheme.

// PageRequest asks for one page: at most Limit items (0: the vendor's
// default) from Cursor ("" for the first page; otherwise a Next this
// client returned).
type PageRequest struct {
	Limit  int
	Cursor string
}

// Page is one page of a list. Total is the vendor's count of all matches,
// -1 when it does not say. Next is "" on the last page.
type Page[T any] struct {
	Items []T
	Total int
	Next  string
}

// Offset reads a PageRequest of an offset-paged vendor: the offset inside
// its cursor (0 for the first page).
func (r PageRequest) Offset(vendor string) (int, error) {
	v, err := ParseCursor(vendor, "o", r.Cursor)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, Invalid(vendor, "cursor", badCursor)
	}
	return n, nil
}

// OffsetPage is the Page of an offset-paged list that started at offset
// and asked for limit items: Next is empty once the vendor's total is
// reached or, when it gives none (total < 0), after a short page.
func OffsetPage[T any](items []T, offset, limit, total int) Page[T] {
	if items == nil {
		items = []T{}
	}
	p := Page[T]{Items: items, Total: total}
	next := offset + len(items)
	if len(items) > 0 && (total < 0 && len(items) >= limit || total >= 0 && next < total) {
		p.Next = Cursor("o", strconv.Itoa(next))
	}
	return p
}

// Fields packs several values into one cursor value (e.g. a page number
// and the filter it belongs to) and Split unpacks them.
func Fields(v ...string) string { return strings.Join(v, "\x1f") }

// Split is the inverse of Fields; n is how many values a valid cursor has.
func Split(vendor, value string, n int) ([]string, error) {
	parts := strings.Split(value, "\x1f")
	if len(parts) != n {
		return nil, Invalid(vendor, "cursor", badCursor)
	}
	return parts, nil
}
