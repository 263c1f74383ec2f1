// Package ralivitest is an emulator of Ralivi's read-only API, in the style
// of net/http/httptest: the tests run the real client against it over real
// HTTP, and `crm-mcp --sandbox` serves it in process.
//
// It keeps what ralivi.txt documents (Bearer auth with 401 on a bad key,
// GET-only endpoints, cursor paging with limit up to 100 and default 50,
// nextCursor null at the end, nulls rather than omitted fields) and what
// vendors/ralivi's doc comment assumes where the doc is silent: the error
// envelope {"error": {"code", "message", "field"}}, 400 naming limit or
// cursor, newest-first order, filters that match nothing rather than fail,
// and no request limit unless Options sets one (then 429 + Retry-After).
// Its cursors are base64 of the last id returned, opaque to callers.
//
// Ids keep the doc's shape, three lower-case letters and three digits with
// no separator (its example contact is "abc123"); the letters name the
// collection, and no other vendor's sandbox uses them: abc contacts, opp
// deals (opportunities), tsk tasks, log activities, org the organization.
//
// Seed data: the organization org001, 36 contacts abc101 to abc136 (the
// doc's abc123 among them), 20 deals opp201 to opp220 across the five
// standard stages and one custom stage (CustomStage), 24 tasks tsk301 to
// tsk324 and 30 activities log401 to log430 linked to deals and contacts.
package ralivitest

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
)

// APIKey is the key accepted by an emulator built with zero Options.
const APIKey = "rlv_live_sandbox0000000000000000"

// CustomStage is the id of the seed's account-specific deal stage.
const CustomStage = "stg_renewal"

// Options configure an emulator.
type Options struct {
	APIKey        string // default APIKey
	RatePerMinute int    // 0 or negative: no limit (Ralivi documents none)
	Empty         bool   // no seed data (the organization is still there)
}

// Emulator is an http.Handler that behaves like Ralivi. Its data is fixed
// at construction (the API is read-only), so it needs no lock.
type Emulator struct {
	*emulator.Kit
	opts Options

	org        organization
	contacts   []contact // newest first, as served
	deals      []deal
	tasks      []task
	activities []activity
}

// Wire records. Pointers without omitempty: nullable fields are null.
type organization struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Website   *string `json:"website"`
	Industry  *string `json:"industry"`
	CreatedAt string  `json:"createdAt"`
}

type contact struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Email         *string  `json:"email"`
	Phone         *string  `json:"phone"`
	Company       *string  `json:"company"`
	Status        string   `json:"status"`
	Tags          []string `json:"tags"`
	Summary       *string  `json:"summary"`
	CreatedAt     string   `json:"createdAt"`
	UpdatedAt     string   `json:"updatedAt"`
	LastTouchedAt *string  `json:"lastTouchedAt"`
}

type deal struct {
	ID              string   `json:"id"`
	Title           string   `json:"title"`
	Stage           string   `json:"stage"`
	Amount          *float64 `json:"amount"`
	Probability     *float64 `json:"probability"`
	ContactID       *string  `json:"contactId"`
	Summary         *string  `json:"summary"`
	CreatedAt       string   `json:"createdAt"`
	UpdatedAt       string   `json:"updatedAt"`
	LastActivityAt  *string  `json:"lastActivityAt"`
	NextActionDueAt *string  `json:"nextActionDueAt"`
}

type task struct {
	ID          string  `json:"id"`
	Title       string  `json:"title"`
	Description *string `json:"description"`
	Status      string  `json:"status"`
	Priority    string  `json:"priority"`
	DueDate     *string `json:"dueDate"`
	DealID      *string `json:"dealId"`
	ContactID   *string `json:"contactId"`
	AssignedTo  *string `json:"assignedTo"`
	CreatedAt   string  `json:"createdAt"`
	UpdatedAt   string  `json:"updatedAt"`
}

type activity struct {
	ID        string  `json:"id"`
	Type      string  `json:"type"`
	Subject   string  `json:"subject"`
	Body      *string `json:"body"`
	DealID    *string `json:"dealId"`
	ContactID *string `json:"contactId"`
	CreatedAt string  `json:"createdAt"`
	CreatedBy string  `json:"createdBy"`
}

// New returns an emulator with seed data.
func New(opts Options) *Emulator {
	if opts.APIKey == "" {
		opts.APIKey = APIKey
	}
	e := &Emulator{Kit: emulator.NewKit(), opts: opts}
	e.seed(!opts.Empty)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contacts", func(w http.ResponseWriter, r *http.Request) {
		page(w, r, e.contacts, func(c contact) string { return c.ID })
	})
	mux.HandleFunc("GET /deals", func(w http.ResponseWriter, r *http.Request) {
		page(w, r, e.dealsIn(r.URL.Query().Get("stage")), func(d deal) string { return d.ID })
	})
	mux.HandleFunc("GET /tasks", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page(w, r, e.tasksOf(q.Get("dealId"), q.Get("contactId")), func(t task) string { return t.ID })
	})
	mux.HandleFunc("GET /activities", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page(w, r, e.activitiesOf(q.Get("dealId"), q.Get("contactId")), func(a activity) string { return a.ID })
	})
	mux.HandleFunc("GET /organizations", func(w http.ResponseWriter, r *http.Request) {
		emulator.JSON(w, 200, map[string]any{"data": e.org})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			fail(w, http.StatusMethodNotAllowed, "method_not_allowed", "", "the API is read-only: only GET is available")
			return
		}
		fail(w, http.StatusNotFound, "not_found", "", "no such endpoint: GET "+r.URL.Path)
	})
	e.Handle(emulator.Vendor{
		Route:      emulator.ExactRoute,
		ErrBody:    errBody,
		Authorized: func(r *http.Request) bool { return emulator.Bearer(r) == opts.APIKey },
		Unauthorized: func(w http.ResponseWriter) {
			fail(w, http.StatusUnauthorized, "unauthorized", "", "Invalid or missing API key")
		},
		Limits: emulator.PerMinute(opts.RatePerMinute),
		Throttled: func(w http.ResponseWriter, _ int) {
			fail(w, http.StatusTooManyRequests, "rate_limited", "", fmt.Sprintf("Too many requests: %d per minute", opts.RatePerMinute))
		},
	}, mux)
	return e
}

// Server is an emulator listening on a loopback port.
type Server struct {
	*httptest.Server
	*Emulator
}

// NewServer starts an emulator on 127.0.0.1; Close it when done.
func NewServer(opts Options) *Server {
	e := New(opts)
	return &Server{Server: httptest.NewServer(e), Emulator: e}
}

func errBody(status int) string {
	code := cmp.Or(map[int]string{429: "rate_limited", 401: "unauthorized", 404: "not_found"}[status], "internal_error")
	return fmt.Sprintf(`{"error":{"code":%q,"message":%q}}`, code, http.StatusText(status))
}

func fail(w http.ResponseWriter, status int, code, field, msg string) {
	body := map[string]string{"code": code, "message": msg}
	if field != "" {
		body["field"] = field
	}
	emulator.JSON(w, status, map[string]any{"error": body})
}

// page answers one page of items after the cursor's id.
func page[T any](w http.ResponseWriter, r *http.Request, items []T, id func(T) string) {
	limit, ok := emulator.IntParam(r, "limit", 50, 1, 100)
	if !ok {
		fail(w, 400, "invalid_parameter", "limit", "limit must be an integer from 1 to 100")
		return
	}
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		start = -1
		if after, err := base64.RawURLEncoding.DecodeString(c); err == nil {
			for i, it := range items {
				if id(it) == string(after) {
					start = i + 1
				}
			}
		}
		if start < 0 {
			fail(w, 400, "invalid_parameter", "cursor", "cursor is not a nextCursor of this list")
			return
		}
	}
	data := emulator.Page(items, start, limit)
	var next *string
	if start+len(data) < len(items) {
		c := base64.RawURLEncoding.EncodeToString([]byte(id(data[len(data)-1])))
		next = &c
	}
	emulator.JSON(w, 200, map[string]any{"data": data, "count": len(data), "nextCursor": next})
}

func (e *Emulator) dealsIn(stage string) []deal {
	var out []deal
	for _, d := range e.deals {
		if stage == "" || d.Stage == stage {
			out = append(out, d)
		}
	}
	return out
}

// linked reports whether a record with these links passes the filters.
func linked(dealID, contactID *string, wantDeal, wantContact string) bool {
	return (wantDeal == "" || (dealID != nil && *dealID == wantDeal)) &&
		(wantContact == "" || (contactID != nil && *contactID == wantContact))
}

func (e *Emulator) tasksOf(dealID, contactID string) []task {
	var out []task
	for _, t := range e.tasks {
		if linked(t.DealID, t.ContactID, dealID, contactID) {
			out = append(out, t)
		}
	}
	return out
}

func (e *Emulator) activitiesOf(dealID, contactID string) []activity {
	var out []activity
	for _, a := range e.activities {
		if linked(a.DealID, a.ContactID, dealID, contactID) {
			out = append(out, a)
		}
	}
	return out
}

// ContactCount is the number of contacts.
func (e *Emulator) ContactCount() int { return len(e.contacts) }

// DealCount is the number of deals in stage ("" for all).
func (e *Emulator) DealCount(stage string) int { return len(e.dealsIn(stage)) }

// TaskCount is the number of tasks matching the filters ("" for any).
func (e *Emulator) TaskCount(dealID, contactID string) int { return len(e.tasksOf(dealID, contactID)) }

// ActivityCount is the number of activities matching the filters ("" for any).
func (e *Emulator) ActivityCount(dealID, contactID string) int {
	return len(e.activitiesOf(dealID, contactID))
}

func ptr[T any](v T) *T { return &v }

// at formats t the way Ralivi does: ISO-8601 with milliseconds, UTC.
func at(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// IDs is the id of every record held: the organization, contacts, deals,
// tasks and activities (for tests, e.g. the guard that every id in a tool
// description exists).
func (e *Emulator) IDs() []string {
	out := []string{e.org.ID}
	for _, c := range e.contacts {
		out = append(out, c.ID)
	}
	for _, d := range e.deals {
		out = append(out, d.ID)
	}
	for _, t := range e.tasks {
		out = append(out, t.ID)
	}
	for _, a := range e.activities {
		out = append(out, a.ID)
	}
	return out
}

// seed fills the organization and, when full, the records, oldest first
// in creation and then reversed: lists serve newest first.
func (e *Emulator) seed(full bool) {
	e.org = organization{ID: "org001", Name: "Northstar Outfitters", Website: ptr("https://northstar.example"),
		Industry: ptr("Outdoor retail"), CreatedAt: "2025-03-04T09:30:00.000Z"}
	if !full {
		return
	}
	people := []struct{ name, company string }{
		{"Maya Fernandes", "Coastline Kayaks"}, {"Jonas Weber", "Alpenglow Gear"}, {"Leila Haddad", "Cedar Trail Co"},
		{"Tomás Ortega", "Sierra Packs"}, {"Aisha Bello", "Savanna Tents"}, {"Ethan Brooks", "Brooks Bikes"},
		{"Nisha Rao", "Monsoon Rainwear"}, {"Oliver Grant", "Granite Climbing"}, {"Sofia Rossi", "Dolomiti Boots"},
		{"Kenji Watanabe", "Fuji Trek"}, {"Hannah Müller", "Schwarzwald Outdoor"}, {"Diego Alvarez", "Patagonia Rentals"},
		{"Priya Nair", "Western Ghats Tours"}, {"Liam O'Connor", "Atlantic Surf"}, {"Chen Wei", "Yangtze Paddle"},
		{"Amara Okoye", "Niger Delta Supply"}, {"Lucas Moreau", "Mont Blanc Guides"}, {"Freya Larsen", "Fjord Sailing"},
		{"Rafael Costa", "Amazonia Expeditions"}, {"Zainab Yusuf", "Sahara Camps"}, {"Noah Fischer", "Rhein Canoe"},
		{"Isabel Santos", "Algarve Dive"}, {"Arjun Menon", "Kerala Backwaters"}, {"Grace Kim", "Seorak Hiking"},
		{"Mateo Silva", "Andes Outfitters"}, {"Elena Petrova", "Baikal Ice Tours"}, {"Samuel Adeyemi", "Lagos Cycles"},
		{"Chloe Dubois", "Loire Camping"}, {"Ravi Shankar", "Himalaya Base"}, {"Emma Johansson", "Lapland Sleds"},
		{"Yusuf Demir", "Cappadocia Balloons"}, {"Mia Novak", "Tatra Trails"}, {"Kwame Asante", "Volta Rafting"},
		{"Lucia Romero", "Pyrenees Ski"}, {"Daniel Cohen", "Negev Treks"}, {"Ana Lima", "Pantanal Lodges"},
	}
	statuses := []string{"active", "lead", "customer", "inactive"}
	tagSets := [][]string{{"wholesale"}, {"retail", "newsletter"}, {"event"}, {}}
	dial := []string{"+1415555", "+4420794", "+9198450", "+4930901"}
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var contacts []contact
	for i, p := range people {
		first := strings.ToLower(strings.NewReplacer("á", "a", "ü", "u").Replace(strings.Fields(p.name)[0]))
		domain := strings.ToLower(strings.Fields(p.company)[0]) + ".example"
		created := base.Add(time.Duration(i) * 53 * time.Hour)
		c := contact{ID: fmt.Sprintf("abc%03d", 101+i), Name: p.name, Email: ptr(first + "@" + domain),
			Company: ptr(p.company), Status: statuses[i%4], Tags: tagSets[i%4],
			CreatedAt: at(created), UpdatedAt: at(created.Add(72 * time.Hour))}
		if i%5 != 4 {
			c.Phone = ptr(fmt.Sprintf("%s%04d", dial[i%4], 1000+i*37))
		}
		if i%4 != 3 {
			c.Summary = ptr(fmt.Sprintf("%s buys for %s; prefers email.", p.name, p.company))
		}
		if i%6 != 5 {
			c.LastTouchedAt = ptr(at(created.Add(96 * time.Hour)))
		}
		contacts = append(contacts, c)
	}
	stages := []string{"lead", "qualified", "proposal", "negotiation", "closed-won", CustomStage}
	prob := map[string]float64{"lead": 10, "qualified": 30, "proposal": 50, "negotiation": 75, "closed-won": 100, CustomStage: 90}
	var deals []deal
	for i := range 20 {
		c := contacts[(i*7)%len(contacts)]
		stage := stages[i%len(stages)]
		created := base.Add(time.Duration(100+i*61) * time.Hour)
		d := deal{ID: fmt.Sprintf("opp%03d", 201+i), Title: *c.Company + " — " + []string{"spring range", "fleet order", "annual supply", "pilot"}[i%4],
			Stage: stage, Amount: ptr(float64(4800 + i*1750)), Probability: ptr(prob[stage]), ContactID: ptr(c.ID),
			Summary: ptr("Opened after a call with " + c.Name + "."), CreatedAt: at(created),
			UpdatedAt: at(created.Add(time.Duration(24+i) * time.Hour)), LastActivityAt: ptr(at(created.Add(20 * time.Hour)))}
		if stage != "closed-won" {
			d.NextActionDueAt = ptr(at(created.Add(14 * 24 * time.Hour)))
		}
		if i == 19 { // an unassigned deal: no contact, no amount yet
			d.ContactID, d.Amount, d.Summary = nil, nil, nil
		}
		deals = append(deals, d)
	}
	people2 := []string{"Maya Rao", "Tom Lindqvist", "Ines Duarte"}
	var tasks []task
	for i := range 24 {
		t := task{ID: fmt.Sprintf("tsk%03d", 301+i), Status: []string{"open", "open", "completed"}[i%3],
			Priority: []string{"high", "medium", "low"}[i%3], AssignedTo: ptr(people2[i%3]),
			CreatedAt: at(base.Add(time.Duration(200+i*40) * time.Hour))}
		t.UpdatedAt = t.CreatedAt
		due := base.Add(time.Duration(200+i*40)*time.Hour + 7*24*time.Hour)
		t.DueDate = ptr(due.Format("2006-01-02"))
		if i < 20 {
			d := deals[i%len(deals)]
			t.DealID, t.ContactID = ptr(d.ID), d.ContactID
			t.Title = "Follow up on " + d.Title
			t.Description = ptr("Send the revised quote and confirm delivery dates.")
		} else {
			c := contacts[i]
			t.ContactID = ptr(c.ID)
			t.Title = "Check in with " + c.Name
			t.DueDate = nil
		}
		tasks = append(tasks, t)
	}
	var acts []activity
	for i := range 30 {
		typ := []string{"call", "note", "email"}[i%3]
		a := activity{ID: fmt.Sprintf("log%03d", 401+i), Type: typ, CreatedBy: people2[i%3],
			CreatedAt: at(base.Add(time.Duration(150+i*33) * time.Hour))}
		if i < 20 {
			d := deals[(i*3)%len(deals)]
			a.DealID, a.ContactID = ptr(d.ID), d.ContactID
			a.Subject = strings.ToUpper(typ[:1]) + typ[1:] + ": " + d.Title
			a.Body = ptr("Discussed quantities and timing.")
		} else {
			c := contacts[i]
			a.ContactID = ptr(c.ID)
			a.Subject = "Intro " + typ + " with " + c.Name
		}
		acts = append(acts, a)
	}
	e.contacts, e.deals, e.tasks, e.activities = reverse(contacts), reverse(deals), reverse(tasks), reverse(acts)
}

func reverse[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
