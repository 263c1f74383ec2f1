package tools

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio/nexviotest"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi/ralivitest"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees/vixieestest"
)

// allVendors starts every emulator on loopback and returns the crm tools
// over real clients, plus the Vivre emulator for fault injection.
func allVendors(t *testing.T) (*mcpClient, *vivretest.Server) {
	t.Helper()
	o := vendors.Options{Retry: vendors.Retry{Attempts: 1}}
	vs := vivretest.NewServer(vivretest.Options{})
	rs := ralivitest.NewServer(ralivitest.Options{})
	xs := vixieestest.NewServer(vixieestest.Options{Licenses: -1})
	qs := qyvotest.NewServer(qyvotest.Options{RatePerMinute: -1})
	ns := nexviotest.NewServer(nexviotest.Options{RatePerMinute: -1})
	for _, s := range []interface{ Close() }{vs, rs, xs, qs, ns} {
		t.Cleanup(s.Close)
	}
	sources := []ContactSource{
		VivreContacts(Static(vivre.New(vivre.Config{APIKey: vivretest.APIKey, WorkspaceID: vivretest.WorkspaceID, Plan: "pro", BaseURL: vs.URL}, o))),
		RaliviContacts(Static(ralivi.New(ralivi.Config{APIKey: ralivitest.APIKey, BaseURL: rs.URL}, o))),
		VixieesContacts(Static(vixiees.New(vixiees.Config{APIKey: vixieestest.APIKey, Licenses: 4, BaseURL: xs.URL}, o))),
		QyvoContacts(Static(qyvo.New(qyvo.Config{APIToken: qyvotest.APIToken, BaseURL: qs.URL}, o))),
		NexvioContacts(Static(nexvio.New(nexvio.Config{APIKey: nexviotest.APIKey, BaseURL: ns.URL}, o))),
	}
	return newMCPClient(t, CRM(sources)), vs
}

func vendorsOf(cs []CRMContact) []string {
	var out []string
	for _, c := range cs {
		if !slices.Contains(out, c.Vendor) {
			out = append(out, c.Vendor)
		}
		if c.ID == "" || c.Vendor == "" {
			panic("contact without id or vendor: " + c.Name)
		}
	}
	slices.Sort(out)
	return out
}

func TestCRMSearchSpansVendors(t *testing.T) {
	m, _ := allVendors(t)
	res := ok[crmResult](m, "crm_search_contacts", map[string]any{"query": "a", "limit": 5})
	got := vendorsOf(res.Contacts)
	if len(got) < 3 || len(res.Vendors) != 5 {
		t.Fatalf("contacts from %v; statuses %+v", got, res.Vendors)
	}
	for _, st := range res.Vendors {
		if st.Error != "" || st.Found > 5 {
			t.Errorf("vendor status %+v", st)
		}
	}
}

// One vendor failing is reported beside the others' results.
func TestCRMSearchReportsAFailingVendor(t *testing.T) {
	m, vs := allVendors(t)
	vs.Inject(emulator.Fault{Status: 401})
	res := ok[crmResult](m, "crm_search_contacts", map[string]any{"query": "a"})
	var vivreStatus VendorStatus
	for _, st := range res.Vendors {
		if st.Vendor == "vivre" {
			vivreStatus = st
		}
	}
	if !strings.Contains(vivreStatus.Error, "refused the credentials") || len(vendorsOf(res.Contacts)) < 3 {
		t.Fatalf("vivre status %+v; contacts from %v", vivreStatus, vendorsOf(res.Contacts))
	}
}

func TestCRMFindContactByEmailAndPhone(t *testing.T) {
	m, _ := allVendors(t)
	byEmail := ok[crmResult](m, "crm_find_contact", map[string]any{"email": "rahul@acme.example"})
	if len(byEmail.Contacts) == 0 || byEmail.Contacts[0].Email != "rahul@acme.example" {
		t.Fatalf("by email: %+v", byEmail)
	}
	// A Nexvio contact's phone: found although Nexvio's search cannot match phones.
	all := ok[crmResult](m, "crm_search_contacts", map[string]any{"query": "a", "limit": 100})
	var target CRMContact
	for _, c := range all.Contacts {
		if c.Vendor == "nexvio" && c.Phone != "" {
			target = c
		}
	}
	if target.ID == "" {
		t.Fatal("no Nexvio contact with a phone in the seed")
	}
	byPhone := ok[crmResult](m, "crm_find_contact", map[string]any{"phone": target.Phone})
	if !slices.ContainsFunc(byPhone.Contacts, func(c CRMContact) bool { return c.Vendor == "nexvio" && c.ID == target.ID }) {
		t.Fatalf("by phone %s: %+v", target.Phone, byPhone)
	}
	for _, c := range byPhone.Contacts {
		if digits(c.Phone) != digits(target.Phone) {
			t.Fatalf("inexact match %+v", c)
		}
	}
	m.fails("crm_find_contact", map[string]any{"email": "a@b.example", "phone": "+14155550123"}).field(t, "email")
	m.fails("crm_find_contact", map[string]any{"phone": "555"}).field(t, "phone")
}

// With a progress token the client hears from each vendor as it answers.
func TestCRMSearchSendsProgress(t *testing.T) {
	m, _ := allVendors(t)
	var mu sync.Mutex
	var got []float64
	m.c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			mu.Lock()
			// In process the value is a Go int; over the wire a JSON number.
			p, _ := strconv.ParseFloat(fmt.Sprint(n.Params.AdditionalFields["progress"]), 64)
			got = append(got, p)
			mu.Unlock()
		}
	})
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "crm_search_contacts", map[string]any{"query": "a"}
	req.Params.Meta = &mcp.Meta{ProgressToken: "search-1"}
	if _, err := m.c.CallTool(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 5 || got[len(got)-1] != 5 {
		t.Fatalf("progress notifications %v, want 1..5", got)
	}
}
