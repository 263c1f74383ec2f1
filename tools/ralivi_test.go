package tools

import (
	"strings"
	"testing"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi/ralivitest"
)

func newRalivi(t *testing.T, opts ralivitest.Options) (*mcpClient, *ralivitest.Server) {
	t.Helper()
	srv := ralivitest.NewServer(opts)
	t.Cleanup(srv.Close)
	cl := ralivi.New(ralivi.Config{APIKey: ralivitest.APIKey, BaseURL: srv.URL}, vendors.Options{Retry: vendors.Retry{Base: 1}})
	return newMCPClient(t, Ralivi(Static(cl))), srv
}

func TestRaliviToolsAreReadOnly(t *testing.T) {
	want := []string{"ralivi_list_contacts", "ralivi_list_deals", "ralivi_list_tasks", "ralivi_list_activities", "ralivi_get_organization"}
	ts := Ralivi(nil)
	if len(ts) != len(want) {
		t.Fatalf("%d tools, want %d", len(ts), len(want))
	}
	for i, tl := range ts {
		if tl.Def.Name != want[i] || !tl.ReadOnly() || tl.Toolset != "ralivi" {
			t.Fatalf("tool %d = %s (read-only %v, toolset %s)", i, tl.Def.Name, tl.ReadOnly(), tl.Toolset)
		}
	}
}

// What an agent does: who is the org, which deals closed, what is open on one.
func TestRaliviFlow(t *testing.T) {
	m, srv := newRalivi(t, ralivitest.Options{})
	org := ok[raliviOrganization](m, "ralivi_get_organization", nil)
	if org.ID == "" || org.Name == "" || org.CreatedAt == "" {
		t.Fatalf("organization = %+v", org)
	}

	won := ok[raliviDealList](m, "ralivi_list_deals", map[string]any{"stage": "closed-won"})
	if len(won.Deals) == 0 || len(won.Deals) != srv.DealCount("closed-won") || won.NextCursor != "" {
		t.Fatalf("closed-won = %+v", won)
	}
	d := won.Deals[0]
	if d.Stage != "closed-won" || d.Amount == nil || d.UpdatedAt == "" || d.ContactID == "" {
		t.Fatalf("closed-won deal = %+v", d)
	}
	custom := ok[raliviDealList](m, "ralivi_list_deals", map[string]any{"stage": ralivitest.CustomStage})
	if len(custom.Deals) == 0 || custom.Deals[0].Stage != ralivitest.CustomStage {
		t.Fatalf("custom stage = %+v", custom)
	}

	tasks := ok[raliviTaskList](m, "ralivi_list_tasks", map[string]any{"deal_id": d.ID})
	if len(tasks.Tasks) == 0 || len(tasks.Tasks) != srv.TaskCount(d.ID, "") {
		t.Fatalf("tasks of %s = %+v", d.ID, tasks)
	}
	for _, tk := range tasks.Tasks {
		if tk.DealID != d.ID || tk.Title == "" || tk.Status == "" {
			t.Fatalf("task = %+v", tk)
		}
	}
	acts := ok[raliviActivityList](m, "ralivi_list_activities", map[string]any{"contact_id": d.ContactID})
	if len(acts.Activities) != srv.ActivityCount("", d.ContactID) {
		t.Fatalf("activities of %s = %+v", d.ContactID, acts)
	}
	for _, a := range acts.Activities {
		if a.ContactID != d.ContactID || a.Type == "" || a.CreatedAt == "" {
			t.Fatalf("activity = %+v", a)
		}
	}
	none := ok[raliviTaskList](m, "ralivi_list_tasks", map[string]any{"deal_id": "opp000"})
	if none.Tasks == nil || len(none.Tasks) != 0 {
		t.Fatalf("no tasks must be [], got %+v", none)
	}
}

// The output is snake_case and a null field is left out, not sent as "".
func TestRaliviOutputIsSnakeCase(t *testing.T) {
	m, _ := newRalivi(t, ralivitest.Options{})
	raw := text(t, m.call("ralivi_list_contacts", map[string]any{"limit": 100}))
	for _, k := range []string{`"created_at"`, `"last_touched_at"`, `"contacts"`} {
		if !strings.Contains(raw, k) {
			t.Fatalf("output lacks %s", k)
		}
	}
	for _, k := range []string{`"createdAt"`, `"lastTouchedAt"`, `"phone":""`, `"phone":null`} {
		if strings.Contains(raw, k) {
			t.Fatalf("output has %s", k)
		}
	}
	raw = text(t, m.call("ralivi_list_deals", map[string]any{"limit": 100}))
	if !strings.Contains(raw, `"next_action_due_at"`) || !strings.Contains(raw, `"amount"`) || strings.Contains(raw, `"value"`) {
		t.Fatalf("deal output: %s", raw[:200])
	}
}

// Every list tool pages with next_cursor and visits each record once.
func TestRaliviPagingVisitsEveryRecordOnce(t *testing.T) {
	m, srv := newRalivi(t, ralivitest.Options{})
	cases := []struct {
		tool  string
		args  map[string]any
		total int
		ids   func(string, map[string]any) ([]string, string)
	}{
		{"ralivi_list_contacts", nil, srv.ContactCount(), func(tool string, a map[string]any) ([]string, string) {
			p := ok[raliviContactList](m, tool, a)
			return raliviIDs(p.Contacts, func(v raliviContact) string { return v.ID }), p.NextCursor
		}},
		{"ralivi_list_deals", nil, srv.DealCount(""), func(tool string, a map[string]any) ([]string, string) {
			p := ok[raliviDealList](m, tool, a)
			return raliviIDs(p.Deals, func(v raliviDeal) string { return v.ID }), p.NextCursor
		}},
		{"ralivi_list_deals", map[string]any{"stage": "lead"}, srv.DealCount("lead"), func(tool string, a map[string]any) ([]string, string) {
			p := ok[raliviDealList](m, tool, a)
			return raliviIDs(p.Deals, func(v raliviDeal) string { return v.ID }), p.NextCursor
		}},
		{"ralivi_list_tasks", nil, srv.TaskCount("", ""), func(tool string, a map[string]any) ([]string, string) {
			p := ok[raliviTaskList](m, tool, a)
			return raliviIDs(p.Tasks, func(v raliviTask) string { return v.ID }), p.NextCursor
		}},
		{"ralivi_list_activities", nil, srv.ActivityCount("", ""), func(tool string, a map[string]any) ([]string, string) {
			p := ok[raliviActivityList](m, tool, a)
			return raliviIDs(p.Activities, func(v raliviActivity) string { return v.ID }), p.NextCursor
		}},
	}
	for _, c := range cases {
		const limit = 7
		seen := map[string]bool{}
		cursor, pages := "", 0
		for {
			args := map[string]any{"limit": limit}
			for k, v := range c.args {
				args[k] = v
			}
			if cursor != "" {
				args["cursor"] = cursor
			}
			got, next := c.ids(c.tool, args)
			pages++
			for _, id := range got {
				if seen[id] {
					t.Fatalf("%s %v: %s on two pages", c.tool, c.args, id)
				}
				seen[id] = true
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if c.total < 2 || len(seen) != c.total || pages != (c.total+limit-1)/limit {
			t.Fatalf("%s %v: saw %d records in %d pages, emulator holds %d", c.tool, c.args, len(seen), pages, c.total)
		}
	}
}

func raliviIDs[T any](vs []T, id func(T) string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = id(v)
	}
	return out
}

func TestRaliviBadInputNamesTheField(t *testing.T) {
	m, srv := newRalivi(t, ralivitest.Options{})
	vendorCursor := "Y3RfMTIw" // a vendor nextCursor passed as is, not our cursor
	cases := []badInput{
		{"ralivi_list_contacts", map[string]any{"limit": 101}, "limit"},
		{"ralivi_list_contacts", map[string]any{"limit": 0}, "limit"},
		{"ralivi_list_contacts", map[string]any{"limit": "ten"}, "limit"},
		{"ralivi_list_contacts", map[string]any{"cursor": "made-up"}, "cursor"},
		{"ralivi_list_deals", map[string]any{"cursor": vendorCursor}, "cursor"},
		{"ralivi_list_deals", map[string]any{"stage": ""}, "stage"},
		{"ralivi_list_deals", map[string]any{"stage": 3}, "stage"},
		{"ralivi_list_tasks", map[string]any{"deal": "opp201"}, "deal"},
		{"ralivi_list_activities", map[string]any{"contact_id": ""}, "contact_id"},
		{"ralivi_get_organization", map[string]any{"id": "org001"}, "id"},
		// Our cursor wrapping something Ralivi does not know: the vendor's 400.
		{"ralivi_list_tasks", map[string]any{"cursor": vendors.Cursor("c", "bm9wZQ")}, "cursor"},
	}
	if got := m.rejectAll(cases, srv.TotalHits); got != 1 {
		t.Fatalf("%d requests reached the vendor; only the last case needs it", got)
	}
}

func TestRaliviBadKeyAndRateLimit(t *testing.T) {
	srv := ralivitest.NewServer(ralivitest.Options{RatePerMinute: 1})
	t.Cleanup(srv.Close)
	bad := ralivi.New(ralivi.Config{APIKey: "rlv_live_revoked", BaseURL: srv.URL}, vendors.Options{})
	body := newMCPClient(t, Ralivi(Static(bad))).fails("ralivi_get_organization", nil)
	if body.Kind != vendors.KindAuth || body.Status != 401 {
		t.Fatalf("bad key: %+v", body)
	}
	good := ralivi.New(ralivi.Config{APIKey: ralivitest.APIKey, BaseURL: srv.URL}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	m := newMCPClient(t, Ralivi(Static(good)))
	ok[raliviOrganization](m, "ralivi_get_organization", nil)
	body = m.fails("ralivi_get_organization", nil)
	if body.Kind != vendors.KindRateLimited || body.RetryAfterSeconds <= 0 {
		t.Fatalf("over the limit: %+v", body)
	}
}
