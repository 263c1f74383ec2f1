package vendors_test

import (
	"reflect"
	"testing"

	"github.com/crm-mcp/crm-mcp/vendors"
)

// An empty list is [] to the agent, never null, whichever list made it.
func TestNewPageNeverNil(t *testing.T) {
	if p := vendors.NewPage[int](nil, 0, ""); p.Items == nil || len(p.Items) != 0 {
		t.Fatalf("NewPage(nil) = %#v", p)
	}
	if p := vendors.OffsetPage[int](nil, 40, 20, 40); p.Items == nil || p.Next != "" || p.Total != 40 {
		t.Fatalf("OffsetPage(nil) = %#v", p)
	}
}

func TestOffsetQuery(t *testing.T) {
	q, off, lim, err := vendors.PageRequest{}.OffsetQuery("v", 50)
	if err != nil || off != 0 || lim != 50 || q.Encode() != "limit=50" {
		t.Fatalf("first page: %v %d %d %v", q, off, lim, err)
	}
	next := vendors.OffsetPage([]int{1, 2, 3}, 0, 3, 10).Next
	q, off, lim, err = vendors.PageRequest{Limit: 3, Cursor: next}.OffsetQuery("v", 50)
	if err != nil || off != 3 || lim != 3 || q.Encode() != "limit=3&offset=3" {
		t.Fatalf("second page: %v %d %d %v", q, off, lim, err)
	}
	for _, c := range []string{"made-up", vendors.Cursor("o", "-1"), vendors.Cursor("o", "x"), vendors.Cursor("p", "3")} {
		_, _, _, err := vendors.PageRequest{Cursor: c}.OffsetQuery("v", 50)
		if e, ok := vendors.AsError(err); !ok || !reflect.DeepEqual(e, vendors.BadCursor("v")) {
			t.Errorf("cursor %q: %v", c, err)
		}
	}
}

// A page-number cursor keeps its page size and further values; another
// limit beside it is refused, naming limit and the size it keeps.
func TestPageNumber(t *testing.T) {
	page, size, kept, err := vendors.PageRequest{Limit: 7}.PageNumber("v", "p", 100, 1)
	if err != nil || page != 1 || size != 7 || kept != nil {
		t.Fatalf("first page: %d %d %q %v", page, size, kept, err)
	}
	c := vendors.PageCursor("p", 3, 7, "since")
	for _, limit := range []int{0, 7} {
		page, size, kept, err = vendors.PageRequest{Limit: limit, Cursor: c}.PageNumber("v", "p", 100, 1)
		if err != nil || page != 3 || size != 7 || !reflect.DeepEqual(kept, []string{"since"}) {
			t.Fatalf("limit %d: %d %d %q %v", limit, page, size, kept, err)
		}
	}
	_, _, _, err = vendors.PageRequest{Limit: 8, Cursor: c}.PageNumber("v", "p", 100, 1)
	want := vendors.Invalid("v", "limit", "this cursor pages by 7; omit limit or pass 7")
	if e, ok := vendors.AsError(err); !ok || !reflect.DeepEqual(e, want) {
		t.Fatalf("another limit: %v", err)
	}
	for _, bad := range []string{
		"made-up",
		vendors.PageCursor("o", 3, 7, ""),
		vendors.PageCursor("p", 3, 7),
		vendors.PageCursor("p", 0, 7, ""),
		vendors.PageCursor("p", 3, 0, ""),
		vendors.PageCursor("p", 3, 101, ""),
		vendors.Cursor("p", vendors.Fields("x", "7", "")),
	} {
		_, _, _, err := vendors.PageRequest{Limit: 7, Cursor: bad}.PageNumber("v", "p", 100, 1)
		if e, ok := vendors.AsError(err); !ok || !reflect.DeepEqual(e, vendors.BadCursor("v")) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
}
