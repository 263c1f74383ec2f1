package vivre_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

func setup(t *testing.T, opts vivretest.Options, o vendors.Options) (*vivre.Client, *vivretest.Server) {
	t.Helper()
	srv := vivretest.NewServer(opts)
	t.Cleanup(srv.Close)
	if o.Retry.Base == 0 {
		o.Retry.Base = time.Millisecond
	}
	cfg := vivre.Config{APIKey: vivretest.APIKey, WorkspaceID: vivretest.WorkspaceID, Plan: "pro", BaseURL: srv.URL}
	return vivre.New(cfg, o), srv
}

func TestClientMethods(t *testing.T) {
	c, _ := setup(t, vivretest.Options{}, vendors.Options{})
	ctx := context.Background()
	first, err := c.ListContacts(ctx, vivre.ContactFilter{}, vendors.PageRequest{Limit: 5})
	if err != nil || len(first.Items) != 5 || first.Total != 36 || first.Next == "" {
		t.Fatalf("ListContacts = %+v, %v", first, err)
	}
	page, err := c.ListContacts(ctx, vivre.ContactFilter{}, vendors.PageRequest{Limit: 5, Cursor: first.Next})
	if err != nil || len(page.Items) != 5 || page.Total != 36 || page.Items[0].ID == first.Items[0].ID {
		t.Fatalf("ListContacts page 2 = %+v, %v", page, err)
	}
	min := 90
	hi, err := c.ListContacts(ctx, vivre.ContactFilter{ScoreMin: &min}, vendors.PageRequest{})
	if err != nil || len(hi.Items) == 0 {
		t.Fatalf("score_min: %+v, %v", hi, err)
	}
	for _, ct := range hi.Items {
		if ct.AIScore < 90 {
			t.Fatalf("score_min ignored: %+v", ct)
		}
	}
	got, err := c.GetContact(ctx, page.Items[0].ID)
	if err != nil || got.ID != page.Items[0].ID {
		t.Fatalf("GetContact = %+v, %v", got, err)
	}
	ct, err := c.CreateContact(ctx, vivre.NewContact{Name: "Asha Roy", Email: "asha@roy.example"})
	if err != nil || ct.Stage != "new" {
		t.Fatalf("CreateContact = %+v, %v", ct, err)
	}
	v := int64(1000)
	d, err := c.CreateDeal(ctx, vivre.NewDeal{ContactID: ct.ID, Title: "Pilot", Value: &v})
	if err != nil || d.Value != 1000 || d.ContactID != ct.ID {
		t.Fatalf("CreateDeal = %+v, %v", d, err)
	}
	closed := time.Date(2026, 6, 13, 14, 0, 0, 0, time.UTC)
	d, err = c.UpdateDeal(ctx, d.ID, vivre.DealUpdate{Stage: "won", ClosedAt: &closed})
	if err != nil || d.Stage != "won" || !d.ClosedAt.Equal(closed) {
		t.Fatalf("UpdateDeal = %+v, %v", d, err)
	}
	a, err := c.LogActivity(ctx, vivre.NewActivity{ContactID: ct.ID, DealID: d.ID, Type: "meeting", Note: "kick-off"})
	if err != nil || a.DealID != d.ID {
		t.Fatalf("LogActivity = %+v, %v", a, err)
	}
}

// Next walks every contact once; the cursor made by the client is opaque
// and a made-up one is refused, naming the argument, before any request.
func TestPagingSeesEveryRecordOnce(t *testing.T) {
	c, srv := setup(t, vivretest.Options{}, vendors.Options{})
	ctx := context.Background()
	w := emulator.WalkPages(t, func(cursor string) (vendors.Page[vivre.Contact], error) {
		return c.ListContacts(ctx, vivre.ContactFilter{}, vendors.PageRequest{Limit: 7, Cursor: cursor})
	}, func(ct vivre.Contact) string { return ct.ID })
	if n := srv.ContactCount(); len(w.Seen) != n || len(w.Pages) != (n+6)/7 || w.Last().Total != n {
		t.Fatalf("saw %d of %d contacts in %d pages (total %d)", len(w.Seen), n, len(w.Pages), w.Last().Total)
	}
	hits := srv.TotalHits()
	_, err := c.ListContacts(ctx, vivre.ContactFilter{}, vendors.PageRequest{Cursor: "made-up"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["cursor"] == "" || srv.TotalHits() != hits {
		t.Fatalf("made-up cursor: %+v, %d requests sent", e, srv.TotalHits()-hits)
	}
}

func TestBadKeyIsAuthError(t *testing.T) {
	srv := vivretest.NewServer(vivretest.Options{})
	defer srv.Close()
	c := vivre.New(vivre.Config{APIKey: "vv_live_wrong", WorkspaceID: vivretest.WorkspaceID, BaseURL: srv.URL}, vendors.Options{})
	_, err := c.GetContact(context.Background(), "cnt_8800")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindAuth || e.Status != 401 || e.Attempts != 1 {
		t.Fatalf("bad key: %+v", e)
	}
}

func TestValidationErrorNamesField(t *testing.T) {
	c, _ := setup(t, vivretest.Options{}, vendors.Options{})
	_, err := c.CreateContact(context.Background(), vivre.NewContact{Name: "A", Email: "nope"})
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindInvalid || e.Status != 400 || e.Fields["email"] == "" {
		t.Fatalf("validation: %+v", e)
	}
}

// The one end-to-end check of Vivre's part in the retry policy (the
// policy itself is vendors.TestRetryPolicy): a GET meeting a 503 is
// retried, and the vendor's own limit answers 429 with Vivre's envelope,
// which becomes rate_limited with its Retry-After, not retried past the
// call's deadline.
func TestRetrySmoke(t *testing.T) {
	c, srv := setup(t, vivretest.Options{RatePerMinute: 2}, vendors.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Inject(emulator.Fault{Method: http.MethodGet, Status: 503}) // answered before the vendor's limit counts it
	for range 2 {
		if _, err := c.GetContact(ctx, "cnt_8800"); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Hits("GET /contacts/{id}"); n != 3 {
		t.Fatalf("hits = %d, want 3 (one 503 retried)", n)
	}
	_, err := c.GetContact(ctx, "cnt_8800")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.Status != 429 || e.Code != "rate_limited" || e.RetryAfter <= 0 || e.Attempts != 1 || !e.Retryable() {
		t.Fatalf("429: %+v", e)
	}
	if n := srv.Hits("GET /contacts/{id}"); n != 4 {
		t.Fatalf("hits = %d, want 4", n)
	}
}

func TestCancelledCallSaysSo(t *testing.T) {
	c, srv := setup(t, vivretest.Options{}, vendors.Options{})
	srv.SetLatency(time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := c.GetContact(ctx, "cnt_8800")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
