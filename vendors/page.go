package vendors

import (
	"fmt"
	"net/url"
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

// NewPage is the Page of items (never nil: an empty page lists []),
// total and next, as every list returns it.
func NewPage[T any](items []T, total int, next string) Page[T] {
	if items == nil {
		items = []T{}
	}
	return Page[T]{Items: items, Total: total, Next: next}
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
		return 0, BadCursor(vendor)
	}
	return n, nil
}

// OffsetQuery reads a PageRequest of an offset-paged vendor whose query
// says "limit" and "offset": the offset inside its cursor, the limit
// (def, the vendor's page size, when r.Limit is 0) and the query carrying
// them (offset left out on the first page). The cursor carries the offset
// only, so the limit is each call's own.
func (r PageRequest) OffsetQuery(vendor string, def int) (q url.Values, offset, limit int, err error) {
	if offset, err = r.Offset(vendor); err != nil {
		return nil, 0, 0, err
	}
	limit = r.Limit
	if limit <= 0 {
		limit = def
	}
	q = url.Values{"limit": {strconv.Itoa(limit)}}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	return q, offset, limit, nil
}

// OffsetPage is the Page of an offset-paged list that started at offset
// and asked for limit items: Next is empty once the vendor's total is
// reached or, when it gives none (total < 0), after a short page.
func OffsetPage[T any](items []T, offset, limit, total int) Page[T] {
	next := offset + len(items)
	cursor := ""
	if len(items) > 0 && (total < 0 && len(items) >= limit || total >= 0 && next < total) {
		cursor = Cursor("o", strconv.Itoa(next))
	}
	return NewPage(items, total, cursor)
}

// PageCursor is the cursor of a page-numbered list: the page to ask for,
// the page size and any further values the list keeps from its first
// page (a filter); PageRequest.PageNumber reads it back.
func PageCursor(scheme string, page, size int, kept ...string) string {
	return Cursor(scheme, Fields(append([]string{strconv.Itoa(page), strconv.Itoa(size)}, kept...)...))
}

// PageNumber reads a PageRequest of a page-numbered list whose cursors
// PageCursor made with the given scheme and nKept further values. Without
// a cursor it is page 1 of r.Limit (0: the caller's default) and kept is
// nil. With one, it is the page and size inside it (page at least 1, size
// 1..maxSize) and its nKept values; a cursor that is not one is refused,
// naming cursor. A page number only points at the right records with the
// page size it was counted in, so a cursor keeps its size: r.Limit must
// be 0 or that size, else it is refused, naming limit and the size.
func (r PageRequest) PageNumber(vendor, scheme string, maxSize, nKept int) (page, size int, kept []string, err error) {
	if r.Cursor == "" {
		return 1, r.Limit, nil, nil
	}
	v, err := ParseCursor(vendor, scheme, r.Cursor)
	if err != nil {
		return 0, 0, nil, err
	}
	f, err := Split(vendor, v, 2+nKept)
	if err != nil {
		return 0, 0, nil, err
	}
	page, err1 := strconv.Atoi(f[0])
	size, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || page < 1 || size < 1 || size > maxSize {
		return 0, 0, nil, BadCursor(vendor)
	}
	if r.Limit != 0 && r.Limit != size {
		return 0, 0, nil, Invalid(vendor, "limit", fmt.Sprintf("this cursor pages by %d; omit limit or pass %d", size, size))
	}
	return page, size, f[2:], nil
}

// Fields packs several values into one cursor value (e.g. a page number
// and the filter it belongs to) and Split unpacks them.
func Fields(v ...string) string { return strings.Join(v, "\x1f") }

// Split is the inverse of Fields; n is how many values a valid cursor has.
func Split(vendor, value string, n int) ([]string, error) {
	parts := strings.Split(value, "\x1f")
	if len(parts) != n {
		return nil, BadCursor(vendor)
	}
	return parts, nil
}
