package vivre_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
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
	page, err := c.ListContacts(ctx, vivre.ListContactsParams{Limit: 5, Offset: 5})
	if err != nil || len(page.Data) != 5 || page.Total != 36 || page.Offset != 5 {
		t.Fatalf("ListContacts = %+v, %v", page, err)
	}
	min := 90
	hi, err := c.ListContacts(ctx, vivre.ListContactsParams{ScoreMin: &min})
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range hi.Data {
		if ct.AIScore < 90 {
			t.Fatalf("score_min ignored: %+v", ct)
		}
	}
	got, err := c.GetContact(ctx, page.Data[0].ID)
	if err != nil || got.ID != page.Data[0].ID {
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

func TestRateLimitFromVendorIsRateLimitedWithRetryAfter(t *testing.T) {
	// No client-side limiter: the vendor's own limit answers 429.
	c, srv := setup(t, vivretest.Options{RatePerMinute: 3}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	ctx := context.Background()
	for range 3 {
		if _, err := c.GetContact(ctx, "cnt_8800"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.GetContact(ctx, "cnt_8800")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.Status != 429 || e.RetryAfter <= 0 || !e.Retryable() {
		t.Fatalf("429: %+v", e)
	}
	if srv.Hits("GET /contacts/{id}") != 4 {
		t.Fatalf("hits = %d", srv.Hits("GET /contacts/{id}"))
	}
}

func TestVendor429PausesTheCredential(t *testing.T) {
	lim := ratelimit.NewMemory()
	c, srv := setup(t, vivretest.Options{}, vendors.Options{Limiter: lim, Retry: vendors.Retry{Attempts: 1}})
	srv.Inject(emulator.Fault{Status: 429, RetryAfter: 30})
	_, err := c.GetContact(context.Background(), "cnt_8800")
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindRateLimited || e.RetryAfter != 30*time.Second {
		t.Fatalf("429: %+v", e)
	}
	// The next call must not reach the vendor: the limiter holds the key for 30 s.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.GetContact(ctx, "cnt_8800")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.RetrySeconds() < 28 || srv.TotalHits() != 1 {
		t.Fatalf("after 429: %+v, hits %d", e, srv.TotalHits())
	}
}

func TestGETRetriedThrough503s(t *testing.T) {
	c, srv := setup(t, vivretest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Status: 503}, emulator.Fault{Status: 503})
	got, err := c.GetContact(context.Background(), "cnt_8800")
	if err != nil || got.ID != "cnt_8800" {
		t.Fatalf("GET through two 503s: %+v, %v", got, err)
	}
	if n := srv.Hits("GET /contacts/{id}"); n != 3 {
		t.Fatalf("hits = %d, want 3", n)
	}
}

func TestGETRecoversFromDropsAndMalformedBodies(t *testing.T) {
	c, srv := setup(t, vivretest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Drop: true}, emulator.Fault{Malformed: true}, emulator.Fault{Status: 502})
	page, err := c.ListContacts(context.Background(), vivre.ListContactsParams{Limit: 3})
	if err != nil || len(page.Data) != 3 {
		t.Fatalf("ListContacts: %+v, %v", page, err)
	}
}

func TestPOSTNotResentAfter503(t *testing.T) {
	c, srv := setup(t, vivretest.Options{}, vendors.Options{})
	before := srv.Activities()
	srv.Inject(emulator.Fault{Method: http.MethodPost, Status: 503, AfterHandling: true})
	_, err := c.LogActivity(context.Background(), vivre.NewActivity{ContactID: "cnt_8800", Type: "call"})
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindUncertain || e.Status != 503 || e.Attempts != 1 {
		t.Fatalf("POST 503: %+v", e)
	}
	if n := srv.Hits("POST /activities"); n != 1 {
		t.Fatalf("POST sent %d times, want once", n)
	}
	if srv.Activities() != before+1 {
		t.Fatal("the fault was meant to let the vendor act first")
	}
}

func TestPOSTNotResentAfterDroppedConnection(t *testing.T) {
	c, srv := setup(t, vivretest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Method: http.MethodPost, Drop: true})
	_, err := c.CreateContact(context.Background(), vivre.NewContact{Name: "A", Email: "a@b.example"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindUncertain {
		t.Fatalf("dropped POST: %+v", e)
	}
	if n := srv.Hits("POST /contacts"); n != 1 {
		t.Fatalf("POST sent %d times", n)
	}
}

func TestDeadlineBoundsRetries(t *testing.T) {
	c, srv := setup(t, vivretest.Options{}, vendors.Options{Retry: vendors.Retry{Base: 200 * time.Millisecond, Max: time.Second, Attempts: 10}})
	for range 10 {
		srv.Inject(emulator.Fault{Status: 503})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetContact(ctx, "cnt_8800")
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindUnavailable && e.Kind != vendors.KindTimeout {
		t.Fatalf("kind %s", e.Kind)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("retries ran %s past a 300ms deadline", el)
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
