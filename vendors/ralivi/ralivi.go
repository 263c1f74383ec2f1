// Package ralivi is a client of Ralivi's public API (shared/vendor-docs/ralivi.txt):
// a read-only view of one organization's contacts, deals, tasks, activity
// log and organization record.
//
// What the doc says: Bearer API key ("Authorization: Bearer rlv_live_..."),
// 401 on a bad or revoked key; base URL https://www.ralivi.com/api/v1; every
// endpoint is a GET; list endpoints take limit (max 100, default 50) and an
// opaque cursor, and answer {"data": [...], "count": n, "nextCursor": "..."|null}
// (null at the end); GET /organizations answers {"data": {...}}; nullable
// fields are null rather than omitted; deal value is "amount"; there is no
// closedAt (closed deals have stage closed-won and updatedAt is the close date).
//
// Where the doc is silent we assume, and the emulator (ralivitest) agrees:
//   - no request limit is documented, so we keep to RALIVI_RATE_LIMIT
//     requests per minute, 60 by default: conservative, and configurable
//     once the real limit is known (a 429 pauses the key for its Retry-After);
//   - errors other than 401 are {"error": {"code", "message", "field"}}, with
//     "field" naming the bad query parameter (limit, cursor, dealId, ...);
//     {"error": "...", "message": "..."} is read too, as many 401s look so;
//   - a limit above 100 and an unknown or garbled cursor answer 400 naming
//     the parameter; an unknown stage, dealId or contactId filter is not an
//     error: it matches nothing;
//   - lists are newest first (createdAt descending);
//   - timestamps are ISO-8601 strings and dueDate may be a bare date, so all
//     are passed through as strings: one odd value cannot fail a whole page;
//   - amount and probability are plain numbers (no currency is given;
//     probability is a percentage, 0-100);
//   - ids are opaque strings; the doc's example contact is "abc123", and the
//     emulator keeps that shape (three letters naming the collection, three
//     digits: abc101, opp201, tsk301, log401, org001).
package ralivi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// Name is the vendor's name in tool names, limiter keys and errors.
const Name = "ralivi"

// DefaultBaseURL is the documented base URL.
const DefaultBaseURL = "https://www.ralivi.com/api/v1"

// DefaultRateLimit is our requests/min budget: Ralivi documents none.
const DefaultRateLimit = 60

// MaxLimit is the documented largest page.
const MaxLimit = 100

// StandardStages are the documented deal stages; accounts add custom ones.
var StandardStages = []string{"lead", "qualified", "proposal", "negotiation", "closed-won"}

// Config is Ralivi's configuration, read from the environment.
type Config struct {
	APIKey    string `env:"RALIVI_API_KEY"`
	BaseURL   string `env:"RALIVI_BASE_URL, default=https://www.ralivi.com/api/v1"`
	RateLimit int    `env:"RALIVI_RATE_LIMIT, default=60"` // requests/min; Ralivi documents none
}

// Configured reports whether credentials are present.
func (c Config) Configured() bool { return c.APIKey != "" }

// Check reports, naming the env vars and what is allowed, what keeps a
// Config read from the environment from working: a rate limit below 1, a
// base URL that is not an absolute http(s) URL, or settings without the
// key they are for. Nothing set at all is fine: Ralivi is simply not used.
func (c Config) Check() error {
	var ck vendors.ConfigCheck
	ck.AtLeastOne("RALIVI_RATE_LIMIT", c.RateLimit, fmt.Sprintf("requests per minute (default %d)", DefaultRateLimit))
	ck.BaseURL("RALIVI_BASE_URL", c.BaseURL, DefaultBaseURL)
	if c.APIKey == "" {
		ck.WithoutKey("Ralivi", []string{"RALIVI_API_KEY"}, vendors.If(c.RateLimit != DefaultRateLimit, "RALIVI_RATE_LIMIT"),
			vendors.If(c.BaseURL != "" && c.BaseURL != DefaultBaseURL, "RALIVI_BASE_URL"))
	}
	return ck.Err()
}

// PerMinute is the request budget per minute (DefaultRateLimit unless set).
func (c Config) PerMinute() int {
	if c.RateLimit > 0 {
		return c.RateLimit
	}
	return DefaultRateLimit
}

// Client calls Ralivi with one API key. It only ever sends GETs.
type Client struct{ c *vendors.Client }

// Identity is a one-way digest of the credential this client sends.
func (c *Client) Identity() string { return c.c.Identity }

// New returns a client for cfg.
func New(cfg Config, o vendors.Options) *Client {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+cfg.APIKey)
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	windows := []ratelimit.Window{{Limit: cfg.PerMinute(), Period: time.Minute}}
	c := o.NewClient(Name, base, h, windows, cfg.APIKey)
	c.DecodeError = decodeError
	return &Client{c: c}
}

// Contact is a person in the CRM. Null strings decode as "".
type Contact struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Email         string   `json:"email"`
	Phone         string   `json:"phone"`
	Company       string   `json:"company"`
	Status        string   `json:"status"`
	Tags          []string `json:"tags"`
	Summary       string   `json:"summary"`
	CreatedAt     string   `json:"createdAt"`
	UpdatedAt     string   `json:"updatedAt"`
	LastTouchedAt string   `json:"lastTouchedAt"`
}

// Deal is a pipeline opportunity. Amount and Probability are nil when null.
type Deal struct {
	ID              string   `json:"id"`
	Title           string   `json:"title"`
	Stage           string   `json:"stage"`
	Amount          *float64 `json:"amount"`
	Probability     *float64 `json:"probability"`
	ContactID       string   `json:"contactId"`
	Summary         string   `json:"summary"`
	CreatedAt       string   `json:"createdAt"`
	UpdatedAt       string   `json:"updatedAt"`
	LastActivityAt  string   `json:"lastActivityAt"`
	NextActionDueAt string   `json:"nextActionDueAt"`
}

// Task is a to-do, usually linked to a deal and/or a contact.
type Task struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Status      string `json:"status"`
	Priority    string `json:"priority"`
	DueDate     string `json:"dueDate"`
	DealID      string `json:"dealId"`
	ContactID   string `json:"contactId"`
	AssignedTo  string `json:"assignedTo"`
	CreatedAt   string `json:"createdAt"`
	UpdatedAt   string `json:"updatedAt"`
}

// Activity is a logged call, note or email.
type Activity struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Subject   string `json:"subject"`
	Body      string `json:"body"`
	DealID    string `json:"dealId"`
	ContactID string `json:"contactId"`
	CreatedAt string `json:"createdAt"`
	CreatedBy string `json:"createdBy"`
}

// Organization is the account the API key belongs to.
type Organization struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Website   string `json:"website"`
	Industry  string `json:"industry"`
	CreatedAt string `json:"createdAt"`
}

// Links filter tasks or activities by deal and/or contact ("" for any).
type Links struct {
	DealID    string
	ContactID string
}

// ListContacts returns one page of contacts.
func (c *Client) ListContacts(ctx context.Context, r vendors.PageRequest) (vendors.Page[Contact], error) {
	return list[Contact](ctx, c, "/contacts", r, nil)
}

// ListDeals returns one page of deals, of one stage unless stage is "".
func (c *Client) ListDeals(ctx context.Context, stage string, r vendors.PageRequest) (vendors.Page[Deal], error) {
	return list[Deal](ctx, c, "/deals", r, map[string]string{"stage": stage})
}

// ListTasks returns one page of tasks.
func (c *Client) ListTasks(ctx context.Context, f Links, r vendors.PageRequest) (vendors.Page[Task], error) {
	return list[Task](ctx, c, "/tasks", r, f.query())
}

// ListActivities returns one page of activity log entries.
func (c *Client) ListActivities(ctx context.Context, f Links, r vendors.PageRequest) (vendors.Page[Activity], error) {
	return list[Activity](ctx, c, "/activities", r, f.query())
}

func (f Links) query() map[string]string {
	return map[string]string{"dealId": f.DealID, "contactId": f.ContactID}
}

// GetOrganization returns the key's organization.
func (c *Client) GetOrganization(ctx context.Context) (*Organization, error) {
	return vendors.Fetch[Organization](ctx, c.c, vendors.NewRequest(http.MethodGet, "/organizations", nil, nil))
}

// list reads one page of a list endpoint: r.Limit 1..100 (0: Ralivi's
// 50), r.Cursor a Next of this client (it wraps Ralivi's nextCursor, which
// Ralivi itself judges: one it does not know is its 400 naming cursor);
// filters with an empty value are left out. Ralivi's count is the page's
// length, not a total, so Total is -1.
func list[T any](ctx context.Context, c *Client, path string, r vendors.PageRequest, filters map[string]string) (vendors.Page[T], error) {
	cursor, err := vendors.ParseCursor(Name, "c", r.Cursor)
	if err != nil {
		return vendors.Page[T]{}, err
	}
	q := url.Values{}
	if r.Limit > 0 {
		q.Set("limit", strconv.Itoa(r.Limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	for k, v := range filters {
		if v != "" {
			q.Set(k, v)
		}
	}
	var body struct {
		Data       []T    `json:"data"`
		NextCursor string `json:"nextCursor"`
	}
	if err := c.c.Do(ctx, vendors.NewRequest(http.MethodGet, path, q, nil), &body); err != nil {
		return vendors.Page[T]{}, err
	}
	next := ""
	if body.NextCursor != "" {
		next = vendors.Cursor("c", body.NextCursor)
	}
	return vendors.NewPage(body.Data, -1, next), nil
}

// decodeError reads {"error": {"code", "message", "field"}} or
// {"error": "...", "message": "..."}; the field becomes the tool's
// snake_case argument name (dealId -> deal_id).
func decodeError(body []byte, e *vendors.Error) {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &v) != nil {
		return
	}
	var obj struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	}
	var s string
	e.Message = v.Message
	switch {
	case json.Unmarshal(v.Error, &obj) == nil:
		e.Code = obj.Code
		if obj.Message != "" {
			e.Message = obj.Message
		}
		if obj.Field != "" {
			e.Fields = map[string]string{snake(obj.Field): e.Message}
		}
	case json.Unmarshal(v.Error, &s) == nil && e.Message == "":
		e.Message = s
	}
}

// snake turns a camelCase parameter name into snake_case.
func snake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
