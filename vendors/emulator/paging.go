package emulator

import "github.com/crm-mcp/crm-mcp/vendors"

// maxWalk bounds WalkPages: a list that never ends is a failure.
const maxWalk = 10000

// Walk is what WalkPages saw: every page in order and every item's id.
type Walk[T any] struct {
	Pages []vendors.Page[T]
	Seen  map[string]bool
}

// Last is the last page (its Next is "").
func (w Walk[T]) Last() vendors.Page[T] { return w.Pages[len(w.Pages)-1] }

// WalkPages follows a list from its first page (cursor "") through each
// Next until one is "", as an agent would, and fails the test on an error,
// on an id seen twice (on two pages or twice on one) or on a list that
// does not end. get asks for the page at a cursor; id names an item. The
// caller checks the count, the pages and anything else on what it returns.
// (t is a *testing.T, kept an interface as in VendorError.)
func WalkPages[T any](t interface {
	Helper()
	Fatalf(string, ...any)
}, get func(cursor string) (vendors.Page[T], error), id func(T) string) Walk[T] {
	t.Helper()
	w := Walk[T]{Seen: map[string]bool{}}
	for cursor := ""; ; {
		if len(w.Pages) == maxWalk {
			t.Fatalf("still paging after %d pages", maxWalk)
		}
		p, err := get(cursor)
		if err != nil {
			t.Fatalf("page %d: %v", len(w.Pages)+1, err)
		}
		w.Pages = append(w.Pages, p)
		for _, it := range p.Items {
			if k := id(it); w.Seen[k] {
				t.Fatalf("%s seen twice, again on page %d", k, len(w.Pages))
			} else {
				w.Seen[k] = true
			}
		}
		if p.Next == "" {
			return w
		}
		cursor = p.Next
	}
}
