package nexvio_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio/nexviotest"
)

func setup(t *testing.T, opts nexviotest.Options, o vendors.Options) (*nexvio.Client, *nexviotest.Server) {
	t.Helper()
	srv := nexviotest.NewServer(opts)
	t.Cleanup(srv.Close)
	if o.Retry.Base == 0 {
		o.Retry.Base = time.Millisecond
	}
	return nexvio.New(nexvio.Config{APIKey: nexviotest.APIKey, BaseURL: srv.URL}, o), srv
}

func TestClientMethods(t *testing.T) {
	c, srv := setup(t, nexviotest.Options{}, vendors.Options{})
	ctx := context.Background()

	first, err := c.ListContacts(ctx, nexvio.ContactFilter{}, vendors.PageRequest{Limit: 5})
	if err != nil || len(first.Items) != 5 || first.Total != 36 || first.Next == "" {
		t.Fatalf("ListContacts = %+v, %v", first, err)
	}
	page, err := c.ListContacts(ctx, nexvio.ContactFilter{}, vendors.PageRequest{Limit: 5, Cursor: first.Next})
	if err != nil || len(page.Items) != 5 || page.Total != 36 || page.Items[0].ID == first.Items[0].ID {
		t.Fatalf("ListContacts page 2 = %+v, %v", page, err)
	}
	byName, err := c.ListContacts(ctx, nexvio.ContactFilter{ChatbotID: nexviotest.Chatbots[1], SortBy: "name", SortOrder: "asc"}, vendors.PageRequest{})
	if err != nil || byName.Total != 12 || len(byName.Items) != 12 || byName.Next != "" {
		t.Fatalf("ListContacts by chatbot = %+v, %v", byName, err)
	}
	for i, ct := range byName.Items {
		if ct.ChatbotID != nexviotest.Chatbots[1] || (i > 0 && byName.Items[i-1].Name > ct.Name) {
			t.Fatalf("filter or sort ignored at %d: %+v", i, ct)
		}
	}
	found, err := c.ListContacts(ctx, nexvio.ContactFilter{Search: "john@acme"}, vendors.PageRequest{})
	if err != nil || found.Total != 1 || found.Items[0].Metadata["company"] != "Acme Inc" {
		t.Fatalf("search = %+v, %v", found, err)
	}

	got, err := c.GetContact(ctx, "contact_126abc")
	if err != nil || got.ID != "contact_126abc" || len(got.Conversations) != 4 || got.Phone == "" {
		t.Fatalf("GetContact = %+v, %v", got, err)
	}

	ct, err := c.CreateContact(ctx, nexvio.NewContact{ChatbotID: nexviotest.Chatbots[0], Name: "Jane Smith",
		Email: "jane@xyzcorp.example", Phone: "+15559876543", Metadata: map[string]string{"source": "Website", "role": "Director"}})
	if err != nil || ct.ID == "" || ct.ChatbotID != nexviotest.Chatbots[0] || ct.Metadata["role"] != "Director" || ct.CreatedAt.IsZero() {
		t.Fatalf("CreateContact = %+v, %v", ct, err)
	}

	up, err := c.UpdateContact(ctx, ct.ID, nexvio.ContactUpdate{Name: "Jane Wilson-Smith", Metadata: map[string]string{"role": "VP"}})
	if err != nil || up.Name != "Jane Wilson-Smith" || up.Email != "jane@xyzcorp.example" ||
		up.Metadata["role"] != "VP" || up.Metadata["source"] != "Website" {
		t.Fatalf("UpdateContact = %+v, %v (metadata must merge)", up, err)
	}

	convs, err := c.ListConversations(ctx, "contact_126abc", vendors.PageRequest{Limit: 2})
	if err != nil || len(convs.Items) != 2 || convs.Total != 4 || convs.Items[0].ContactID != "contact_126abc" || convs.Next == "" {
		t.Fatalf("ListConversations = %+v, %v", convs, err)
	}

	del, err := c.DeleteContact(ctx, ct.ID)
	if err != nil || !del.Deleted || del.ID != ct.ID || srv.HasContact(ct.ID) {
		t.Fatalf("DeleteContact = %+v, %v", del, err)
	}
}

func TestDeletedContactIsNotFound(t *testing.T) {
	c, _ := setup(t, nexviotest.Options{}, vendors.Options{})
	ctx := context.Background()
	if _, err := c.DeleteContact(ctx, "contact_123abc"); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetContact(ctx, "contact_123abc")
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound || e.Status != 404 || e.Code != "not_found" {
		t.Fatalf("get after delete: %+v", e)
	}
	_, err = c.UpdateContact(ctx, "contact_123abc", nexvio.ContactUpdate{Name: "X"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound {
		t.Fatalf("update after delete: %+v", e)
	}
	_, err = c.DeleteContact(ctx, "contact_123abc")
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound {
		t.Fatalf("delete after delete: %+v", e)
	}
	_, err = c.ListConversations(ctx, "contact_123abc", vendors.PageRequest{})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound {
		t.Fatalf("conversations after delete: %+v", e)
	}
}

func TestBadKeyIsAuthError(t *testing.T) {
	srv := nexviotest.NewServer(nexviotest.Options{})
	defer srv.Close()
	c := nexvio.New(nexvio.Config{APIKey: "nx_live_wrong", BaseURL: srv.URL}, vendors.Options{})
	_, err := c.GetContact(context.Background(), "contact_123abc")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindAuth || e.Status != 401 || e.Code != "unauthorized" || e.Message != "Invalid API key" || e.Attempts != 1 {
		t.Fatalf("bad key: %+v", e)
	}
}

// The vendor's details use camelCase; the error names the tool's snake_case arguments.
func TestValidationErrorNamesSnakeCaseFields(t *testing.T) {
	c, _ := setup(t, nexviotest.Options{}, vendors.Options{})
	ctx := context.Background()
	_, err := c.CreateContact(ctx, nexvio.NewContact{ChatbotID: "chatbot_nope", Email: "nope", Phone: "call me"})
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindInvalid || e.Status != 400 || e.Code != "validation_error" ||
		e.Fields["chatbot_id"] == "" || e.Fields["email"] == "" || e.Fields["phone"] == "" {
		t.Fatalf("validation: %+v", e)
	}
	_, err = c.ListContacts(ctx, nexvio.ContactFilter{}, vendors.PageRequest{Limit: 501})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["limit"] == "" {
		t.Fatalf("limit 501: %+v", e)
	}
	_, err = c.ListContacts(ctx, nexvio.ContactFilter{SortBy: "phone"}, vendors.PageRequest{})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["sort_by"] == "" {
		t.Fatalf("sortBy: %+v", e)
	}
	_, err = c.ListConversations(ctx, "contact_123abc", vendors.PageRequest{Limit: 101})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["limit"] == "" {
		t.Fatalf("conversations limit 101: %+v", e)
	}
	_, err = c.UpdateContact(ctx, "contact_123abc", nexvio.ContactUpdate{Phone: "12"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["phone"] == "" {
		t.Fatalf("update phone: %+v", e)
	}
}

func TestUnknownIDIsNotFound(t *testing.T) {
	c, _ := setup(t, nexviotest.Options{}, vendors.Options{})
	_, err := c.GetContact(context.Background(), "contact_000zzz")
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound || e.Status != 404 || e.Message != "Contact not found" {
		t.Fatalf("unknown id: %+v", e)
	}
}

// The one end-to-end check of Nexvio's part in the retry policy (the
// policy itself is vendors.TestRetryPolicy): a GET meeting a 503 is
// retried; so is a PATCH, which this client marks safe to resend (Nexvio's
// PATCH sets fields to values); and the vendor's own limit answers 429 in
// Nexvio's envelope, which becomes rate_limited with its Retry-After, not
// retried past the call's deadline.
func TestRetrySmoke(t *testing.T) {
	c, srv := setup(t, nexviotest.Options{RatePerMinute: 3}, vendors.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Inject(emulator.Fault{Method: http.MethodGet, Status: 503}) // answered before the limit counts it
	if _, err := c.GetContact(ctx, "contact_123abc"); err != nil {
		t.Fatal(err)
	}
	if n := srv.Hits("GET /contacts/{id}"); n != 2 {
		t.Fatalf("GET hits = %d, want 2 (one 503 retried)", n)
	}
	// The vendor acted, then failed to say so: the resend ends the same.
	srv.Inject(emulator.Fault{Method: http.MethodPatch, Status: 503, AfterHandling: true})
	got, err := c.UpdateContact(ctx, "contact_123abc", nexvio.ContactUpdate{Name: "John Q. Doe"})
	if err != nil || got.Name != "John Q. Doe" {
		t.Fatalf("PATCH through a 503: %+v, %v", got, err)
	}
	if n := srv.Hits("PATCH /contacts/{id}"); n != 2 {
		t.Fatalf("PATCH hits = %d, want 2", n)
	}
	_, err = c.GetContact(ctx, "contact_123abc")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.Status != 429 || e.Code != "rate_limited" || e.RetryAfter <= 0 || e.Attempts != 1 || !e.Retryable() {
		t.Fatalf("429: %+v", e)
	}
}

// Next walks every record once, with the filter and sort given again on
// each call; a made-up cursor is refused, naming the argument, before any
// request.
func TestPagingSeesEveryRecordOnce(t *testing.T) {
	c, srv := setup(t, nexviotest.Options{}, vendors.Options{})
	ctx := context.Background()
	w := emulator.WalkPages(t, func(cursor string) (vendors.Page[nexvio.Contact], error) {
		return c.ListContacts(ctx, nexvio.ContactFilter{SortBy: "email"}, vendors.PageRequest{Limit: 7, Cursor: cursor})
	}, func(ct nexvio.Contact) string { return ct.ID })
	if n := srv.ContactCount(); len(w.Seen) != n || len(w.Pages) != (n+6)/7 || w.Last().Total != n {
		t.Fatalf("saw %d of %d contacts in %d pages (total %d)", len(w.Seen), n, len(w.Pages), w.Last().Total)
	}
	convs := map[string]bool{}
	req := vendors.PageRequest{Limit: 1}
	for {
		page, err := c.ListConversations(ctx, "contact_126abc", req)
		if err != nil || len(page.Items) != 1 || convs[page.Items[0].ID] {
			t.Fatalf("conversations after %d: %+v, %v", len(convs), page, err)
		}
		convs[page.Items[0].ID] = true
		if page.Next == "" {
			break
		}
		req.Cursor = page.Next
	}
	if n := srv.ConversationCount("contact_126abc"); len(convs) != n || n < 2 {
		t.Fatalf("saw %d of %d conversations", len(convs), n)
	}
	hits := srv.TotalHits()
	_, err := c.ListContacts(ctx, nexvio.ContactFilter{}, vendors.PageRequest{Cursor: "made-up"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["cursor"] == "" || srv.TotalHits() != hits {
		t.Fatalf("made-up cursor: %+v, %d requests sent", e, srv.TotalHits()-hits)
	}
	_, err = c.ListConversations(ctx, "contact_126abc", vendors.PageRequest{Cursor: "made-up"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["cursor"] == "" || srv.TotalHits() != hits {
		t.Fatalf("made-up conversations cursor: %+v, %d requests sent", e, srv.TotalHits()-hits)
	}
}
