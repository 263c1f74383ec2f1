package ralivi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi/ralivitest"
)

func setup(t *testing.T, opts ralivitest.Options, o vendors.Options) (*ralivi.Client, *ralivitest.Server) {
	t.Helper()
	srv := ralivitest.NewServer(opts)
	t.Cleanup(srv.Close)
	if o.Retry.Base == 0 {
		o.Retry.Base = time.Millisecond
	}
	return ralivi.New(ralivi.Config{APIKey: ralivitest.APIKey, BaseURL: srv.URL}, o), srv
}

func TestClientMethods(t *testing.T) {
	c, srv := setup(t, ralivitest.Options{}, vendors.Options{})
	ctx := context.Background()

	contacts, err := c.ListContacts(ctx, ralivi.PageParams{})
	if err != nil || len(contacts.Data) != 36 || contacts.Count != 36 || contacts.NextCursor != "" {
		t.Fatalf("ListContacts (default page of 50) = %d records, count %d, next %q, %v", len(contacts.Data), contacts.Count, contacts.NextCursor, err)
	}
	first := contacts.Data[0]
	if first.ID == "" || first.Name == "" || first.CreatedAt == "" || first.Tags == nil {
		t.Fatalf("contact = %+v", first)
	}

	won, err := c.ListDeals(ctx, ralivi.DealParams{Stage: "closed-won"})
	if err != nil || len(won.Data) != srv.DealCount("closed-won") || len(won.Data) == 0 {
		t.Fatalf("ListDeals(closed-won) = %+v, %v", won, err)
	}
	for _, d := range won.Data {
		if d.Stage != "closed-won" || d.Amount == nil || d.UpdatedAt == "" || d.NextActionDueAt != "" {
			t.Fatalf("closed-won deal = %+v", d)
		}
	}
	custom, err := c.ListDeals(ctx, ralivi.DealParams{Stage: ralivitest.CustomStage})
	if err != nil || len(custom.Data) == 0 || custom.Data[0].Stage != ralivitest.CustomStage {
		t.Fatalf("custom stage = %+v, %v", custom, err)
	}
	none, err := c.ListDeals(ctx, ralivi.DealParams{Stage: "no-such-stage"})
	if err != nil || len(none.Data) != 0 || none.NextCursor != "" {
		t.Fatalf("unknown stage = %+v, %v", none, err)
	}

	deal := won.Data[0]
	tasks, err := c.ListTasks(ctx, ralivi.LinkParams{DealID: deal.ID})
	if err != nil || len(tasks.Data) != srv.TaskCount(deal.ID, "") || len(tasks.Data) == 0 {
		t.Fatalf("ListTasks(deal) = %+v, %v", tasks, err)
	}
	for _, tk := range tasks.Data {
		if tk.DealID != deal.ID || tk.ContactID != deal.ContactID || tk.Title == "" {
			t.Fatalf("task = %+v (deal %+v)", tk, deal)
		}
	}
	acts, err := c.ListActivities(ctx, ralivi.LinkParams{ContactID: deal.ContactID})
	if err != nil || len(acts.Data) != srv.ActivityCount("", deal.ContactID) {
		t.Fatalf("ListActivities(contact) = %+v, %v", acts, err)
	}
	for _, a := range acts.Data {
		if a.ContactID != deal.ContactID || a.Type == "" || a.CreatedBy == "" {
			t.Fatalf("activity = %+v", a)
		}
	}

	org, err := c.GetOrganization(ctx)
	if err != nil || org.ID == "" || org.Name == "" || org.CreatedAt == "" {
		t.Fatalf("GetOrganization = %+v, %v", org, err)
	}
}

// Nullable fields arrive as null and decode to their zero value.
func TestNullsDecode(t *testing.T) {
	c, _ := setup(t, ralivitest.Options{}, vendors.Options{})
	deals, err := c.ListDeals(context.Background(), ralivi.DealParams{PageParams: ralivi.PageParams{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	unassigned := 0
	for _, d := range deals.Data {
		if d.ContactID == "" {
			unassigned++
			if d.Amount != nil {
				t.Fatalf("null amount decoded as %v", *d.Amount)
			}
		}
	}
	if unassigned != 1 {
		t.Fatalf("%d deals without contact, the seed has 1", unassigned)
	}
}

func TestPagingSeesEveryRecordOnce(t *testing.T) {
	c, srv := setup(t, ralivitest.Options{}, vendors.Options{})
	ctx := context.Background()
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		p, err := c.ListContacts(ctx, ralivi.PageParams{Limit: 5, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if p.Count != len(p.Data) {
			t.Fatalf("count %d for %d records", p.Count, len(p.Data))
		}
		for _, ct := range p.Data {
			if seen[ct.ID] {
				t.Fatalf("contact %s on two pages", ct.ID)
			}
			seen[ct.ID] = true
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if n := srv.ContactCount(); len(seen) != n || pages != (n+4)/5 {
		t.Fatalf("saw %d contacts in %d pages, emulator holds %d", len(seen), pages, n)
	}
}

func TestBadKeyIsAuthError(t *testing.T) {
	srv := ralivitest.NewServer(ralivitest.Options{})
	defer srv.Close()
	c := ralivi.New(ralivi.Config{APIKey: "rlv_live_revoked", BaseURL: srv.URL}, vendors.Options{})
	_, err := c.ListContacts(context.Background(), ralivi.PageParams{})
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindAuth || e.Status != 401 || e.Attempts != 1 || e.Code != "unauthorized" {
		t.Fatalf("bad key: %+v", e)
	}
}

func TestValidationErrorsNameTheField(t *testing.T) {
	c, _ := setup(t, ralivitest.Options{}, vendors.Options{})
	ctx := context.Background()
	_, err := c.ListDeals(ctx, ralivi.DealParams{PageParams: ralivi.PageParams{Limit: 101}})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Status != 400 || e.Fields["limit"] == "" {
		t.Fatalf("limit 101: %+v", e)
	}
	_, err = c.ListTasks(ctx, ralivi.LinkParams{PageParams: ralivi.PageParams{Cursor: "garbled!!"}})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["cursor"] == "" || e.Attempts != 1 {
		t.Fatalf("bad cursor: %+v", e)
	}
}

// The vendor's camelCase parameter names come back as the tools' snake_case.
func TestErrorFieldIsSnakeCase(t *testing.T) {
	c, srv := setup(t, ralivitest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Status: 400, Body: `{"error":{"code":"invalid_parameter","message":"dealId is malformed","field":"dealId"}}`})
	_, err := c.ListActivities(context.Background(), ralivi.LinkParams{DealID: "x"})
	if e := emulator.VendorError(t, err); e.Fields["deal_id"] != "dealId is malformed" || e.Code != "invalid_parameter" {
		t.Fatalf("field: %+v", e)
	}
	// A flat {"error": "..."} body is read too.
	srv.Inject(emulator.Fault{Status: 401, Body: `{"error":"Unauthorized"}`})
	_, err = c.GetOrganization(context.Background())
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindAuth || e.Message != "Unauthorized" {
		t.Fatalf("flat error: %+v", e)
	}
}

// Ralivi has no get-by-id endpoint; a wrong base URL is the 404 one meets.
func TestUnknownPathIsNotFound(t *testing.T) {
	srv := ralivitest.NewServer(ralivitest.Options{})
	defer srv.Close()
	c := ralivi.New(ralivi.Config{APIKey: ralivitest.APIKey, BaseURL: srv.URL + "/v2"}, vendors.Options{})
	_, err := c.ListContacts(context.Background(), ralivi.PageParams{})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound || e.Status != 404 || e.Code != "not_found" {
		t.Fatalf("unknown path: %+v", e)
	}
}

func TestRateLimitFromVendorIsRateLimitedWithRetryAfter(t *testing.T) {
	// No client-side limiter: the emulator's own limit answers 429.
	c, srv := setup(t, ralivitest.Options{RatePerMinute: 3}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	ctx := context.Background()
	for range 3 {
		if _, err := c.GetOrganization(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.GetOrganization(ctx)
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.Status != 429 || e.RetryAfter <= 0 || e.Code != "rate_limited" {
		t.Fatalf("429: %+v", e)
	}
	if n := srv.Hits("GET /organizations"); n != 4 {
		t.Fatalf("hits = %d", n)
	}
}

func TestGETRetriedThrough503s(t *testing.T) {
	c, srv := setup(t, ralivitest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Status: 503}, emulator.Fault{Status: 503})
	p, err := c.ListDeals(context.Background(), ralivi.DealParams{PageParams: ralivi.PageParams{Limit: 3}})
	if err != nil || len(p.Data) != 3 || p.NextCursor == "" {
		t.Fatalf("GET through two 503s: %+v, %v", p, err)
	}
	if n := srv.Hits("GET /deals"); n != 3 {
		t.Fatalf("hits = %d, want 3", n)
	}
}

func TestGETRecoversFromDropsAndMalformedBodies(t *testing.T) {
	c, srv := setup(t, ralivitest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Drop: true}, emulator.Fault{Malformed: true}, emulator.Fault{Status: 502})
	p, err := c.ListActivities(context.Background(), ralivi.LinkParams{PageParams: ralivi.PageParams{Limit: 4}})
	if err != nil || len(p.Data) != 4 {
		t.Fatalf("ListActivities: %+v, %v", p, err)
	}
}

// The API is read-only: anything but GET is refused, and the client sends none.
func TestOnlyGETIsServed(t *testing.T) {
	srv := ralivitest.NewServer(ralivitest.Options{})
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/contacts", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+ralivitest.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /contacts: %d", resp.StatusCode)
	}
}
