// Package vixiees is a client of the Vixiees API (shared/vendor-docs/vixiees.txt):
// contacts, deals, call recordings, WhatsApp Business templates and tasks.
//
// What the doc says:
//   - auth is one secret X-API-Key header;
//   - lists page with page (1 onwards) and limit (at most 1000), and filter
//     by created_at / updated_at; 422 means the limit is too large or the
//     query is invalid;
//   - errors are {"error": "message", "details": {field: problem}} with
//     400, 401, 404, 422 and 429;
//   - limits scale with licences, and a hard 40 requests per 2 s applies
//     whatever the licences.
//
// The doc's limit line is garbled ("Per minute: licenses x 25 requests -
// Per hour: x60 - Per day: x24"). We read the multipliers as a chain: per
// minute 25 × licences, per hour 60 × that (1500 × licences), per day 24 ×
// the hour (36000 × licences), all enforced at once together with 40 per
// 2 s. VIXIEES_LIMIT_PER_HOUR and VIXIEES_LIMIT_PER_DAY override the
// derived values (the day is derived from the hour in effect).
//
// Where the doc is silent we assume, and the emulator (vixieestest) agrees:
//   - the base URL is https://api.vixiees.com/v1 (configurable);
//   - paths: GET/POST /contacts, PUT /contacts/{id}, GET/POST /deals,
//     PUT /deals/{id}, GET /recordings, GET /recordings/{id},
//     GET /whatsapp_templates (the doc names only the send),
//     POST /whatsapp_templates/{id}/send_message with body
//     {"phone" | "contact_id", "variables": ["..."]} filling {{1}}, {{2}}...,
//     and POST /tasks;
//   - PUT changes only the fields it carries;
//   - lists answer {"data": [...], "page": 1, "limit": 100, "total": N},
//     default limit 100, oldest update first (stable for incremental sync);
//     the list methods page with vendors.PageRequest and return a
//     vendors.Page whose Next cursor holds the next page number together
//     with the first page's limit and updated_at_from, so every page of
//     one listing has the same size and filter;
//   - the incremental-sync filter is the query updated_at_from (the doc
//     shows both "updated_at>=" and "updated_at_from"), sent as RFC 3339 UTC;
//   - single records come as {"data": {...}} or bare; both are read;
//   - JSON is snake_case; deal value is an integer in the smallest currency
//     unit; deal stages are new | qualified | proposal | negotiation | won | lost;
//   - unknown ids answer 404, an unknown template too; sending a template
//     with the wrong number of variables is 422 naming "variables";
//   - ids are opaque strings; the doc shows none, and the emulator's are
//     vx_<kind>_<n> (vx_ct_1001, vx_deal_5001, vx_rec_801, vx_tpl_101), a
//     shape no other vendor's sandbox has.
//
// # Webhooks
//
// The doc says webhooks are enabled per event in Settings -> Account -> API,
// sent to "your receiving URL", and names contact_updated, deal_updated,
// submitted_form_created and task_completed. It documents no signature, no
// body and no deadline. We assume, and crm-mcp's receiver follows:
//   - nothing is signed, so the URL carries a secret: register
//     https://<host>/webhooks/vixiees/<VIXIEES_WEBHOOK_TOKEN>; the token is
//     compared in constant time (VerifyWebhookToken);
//   - the body is one JSON object, the record in its API shape under "data":
//     {"event": "deal_updated", "id": "whk_…", "timestamp":
//     "2025-08-07T10:00:00Z", "data": {"id": "vx_deal_5001", …}}; "type" is
//     read when "event" is absent, "event_id" when "id" is, "created_at" or
//     "occurred_at" when "timestamp" is; a time without a zone (as in the
//     doc's updated_at filter) is UTC;
//   - the record's kind is the event name less its last word
//     (deal_updated -> deal, submitted_form_created -> submitted_form) and
//     its id is data.id;
//   - a delivery without an event id is the same event as another with the
//     same bytes (deduplicated by the body's SHA-256);
//   - Vixiees waits for the answer no longer than Vivre does (5 s).
package vixiees

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// Name is the vendor's name in tool names, limiter keys and errors.
const Name = "vixiees"

// DefaultBaseURL is assumed: the doc gives none.
const DefaultBaseURL = "https://api.vixiees.com/v1"

// MaxLimit is the documented largest page.
const MaxLimit = 1000

// DealStages are the assumed pipeline stages.
var DealStages = []string{"new", "qualified", "proposal", "negotiation", "won", "lost"}

// Config is Vixiees' configuration, read from the environment.
type Config struct {
	APIKey       string `env:"VIXIEES_API_KEY"`
	Licenses     int    `env:"VIXIEES_LICENSES, default=1"`
	LimitPerHour int    `env:"VIXIEES_LIMIT_PER_HOUR"` // overrides 60 × the per-minute limit; 0: not set
	LimitPerDay  int    `env:"VIXIEES_LIMIT_PER_DAY"`  // overrides 24 × the per-hour limit; 0: not set
	BaseURL      string `env:"VIXIEES_BASE_URL, default=https://api.vixiees.com/v1"`
}

// Configured reports whether a key is present.
func (c Config) Configured() bool { return c.APIKey != "" }

// VerifyWebhookToken reports whether got, the token in a webhook's URL, is
// want (see the package doc), in constant time whatever their lengths. An
// empty want never verifies.
func VerifyWebhookToken(want, got string) bool {
	w, g := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(got))
	return want != "" && subtle.ConstantTimeCompare(w[:], g[:]) == 1
}

// Check reports, naming the env vars and what is allowed, what keeps a
// Config read from the environment from working: fewer than 1 licence,
// negative hour or day limits (0 means not set), a base URL that is not an
// absolute http(s) URL, or settings without the key they are for. Nothing
// set at all is fine: Vixiees is simply not used.
func (c Config) Check() error {
	var ck vendors.ConfigCheck
	ck.AtLeastOne("VIXIEES_LICENSES", c.Licenses, "a number of licences (each allows 25 requests/min)")
	if c.LimitPerHour < 0 {
		ck.Add("VIXIEES_LIMIT_PER_HOUR: %d is not a rate; use requests per hour, at least 1, or leave it unset for 60 × the per-minute limit", c.LimitPerHour)
	}
	if c.LimitPerDay < 0 {
		ck.Add("VIXIEES_LIMIT_PER_DAY: %d is not a rate; use requests per day, at least 1, or leave it unset for 24 × the hourly limit", c.LimitPerDay)
	}
	ck.BaseURL("VIXIEES_BASE_URL", c.BaseURL, DefaultBaseURL)
	if c.APIKey == "" {
		ck.WithoutKey("Vixiees", []string{"VIXIEES_API_KEY"}, vendors.If(c.Licenses != 1, "VIXIEES_LICENSES"),
			vendors.If(c.LimitPerHour != 0, "VIXIEES_LIMIT_PER_HOUR"), vendors.If(c.LimitPerDay != 0, "VIXIEES_LIMIT_PER_DAY"),
			vendors.If(c.BaseURL != "" && c.BaseURL != DefaultBaseURL, "VIXIEES_BASE_URL"))
	}
	return ck.Err()
}

// Limits are the request budgets of one account.
type Limits struct {
	Per2Seconds, PerMinute, PerHour, PerDay int
}

// Limits derives the budgets from the licences (at least 1) and overrides.
func (c Config) Limits() Limits {
	l := Limits{Per2Seconds: 40, PerMinute: 25 * max(c.Licenses, 1)}
	l.PerHour = 60 * l.PerMinute
	if c.LimitPerHour > 0 {
		l.PerHour = c.LimitPerHour
	}
	l.PerDay = 24 * l.PerHour
	if c.LimitPerDay > 0 {
		l.PerDay = c.LimitPerDay
	}
	return l
}

// Windows are the limits as limiter windows, all enforced at once.
func (l Limits) Windows() []ratelimit.Window {
	return []ratelimit.Window{
		{Limit: l.Per2Seconds, Period: 2 * time.Second},
		{Limit: l.PerMinute, Period: time.Minute},
		{Limit: l.PerHour, Period: time.Hour},
		{Limit: l.PerDay, Period: 24 * time.Hour},
	}
}

// Client calls Vixiees with one API key.
type Client struct{ c *vendors.Client }

// Identity is a one-way digest of the credential this client sends.
func (c *Client) Identity() string { return c.c.Identity }

// New returns a client for cfg.
func New(cfg Config, o vendors.Options) *Client {
	h := http.Header{}
	h.Set("X-API-Key", cfg.APIKey)
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	c := o.NewClient(Name, base, h, cfg.Limits().Windows(), cfg.APIKey)
	c.DecodeError = decodeError
	return &Client{c: c}
}

// DefaultLimit is the vendor's page size when none is asked for.
const DefaultLimit = 100

// Filter narrows a list of contacts or deals.
type Filter struct {
	UpdatedFrom *time.Time // only records updated at or after this
}

// body is a list as the vendor sends it (its page and limit echoes are
// not needed: the position says them).
type body[T any] struct {
	Data  []T `json:"data"`
	Total int `json:"total"`
}

// position is a place in a page-numbered list. The cursor carries the
// page size and the updated_at_from filter too, so later pages match the
// first.
type position struct {
	page, limit int
	since       *time.Time
}

// cursorScheme marks Vixiees' cursors: page, page size and filter.
const cursorScheme = "p"

// start reads a page request and its filter into a position. A cursor
// keeps its first page's size and filter: a different limit or
// updated_since alongside it is refused, naming the argument.
func start(r vendors.PageRequest, f Filter) (position, error) {
	if r.Cursor == "" {
		return position{page: 1, limit: cmp.Or(r.Limit, DefaultLimit), since: f.UpdatedFrom}, nil
	}
	page, limit, kept, err := r.PageNumber(Name, cursorScheme, MaxLimit, 1)
	if err != nil {
		return position{}, err
	}
	p := position{page: page, limit: limit}
	if kept[0] != "" {
		t, err := time.Parse(time.RFC3339, kept[0])
		if err != nil {
			return position{}, vendors.BadCursor(Name)
		}
		p.since = &t
	}
	if f.UpdatedFrom != nil && (p.since == nil || !f.UpdatedFrom.Equal(*p.since)) {
		return position{}, vendors.Invalid(Name, "updated_since", "differs from the first page's; omit it when passing cursor")
	}
	return p, nil
}

func (p position) query() url.Values {
	q := url.Values{}
	q.Set("page", strconv.Itoa(p.page))
	q.Set("limit", strconv.Itoa(p.limit))
	if p.since != nil {
		q.Set("updated_at_from", p.since.UTC().Format(time.RFC3339))
	}
	return q
}

// next is the cursor of the page after this one: empty when this page,
// holding got of total records, is the last.
func (p position) next(got, total int) string {
	if got == 0 || p.page*p.limit >= total {
		return ""
	}
	since := ""
	if p.since != nil {
		since = p.since.UTC().Format(time.RFC3339Nano)
	}
	return vendors.PageCursor(cursorScheme, p.page+1, p.limit, since)
}

// Contact is a person in the account.
type Contact struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	Phone     string    `json:"phone,omitempty"` // E.164
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ContactFields is the body of POST /contacts and PUT /contacts/{id};
// empty fields are left out (PUT leaves them unchanged).
type ContactFields struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// ListContacts returns one page of contacts, least recently updated
// first. A cursor keeps the page size and filter of its first page.
func (c *Client) ListContacts(ctx context.Context, r vendors.PageRequest, f Filter) (vendors.Page[Contact], error) {
	return list[Contact](ctx, c, "/contacts", r, f)
}

// CreateContact adds a contact. Not retried once sent.
func (c *Client) CreateContact(ctx context.Context, in ContactFields) (*Contact, error) {
	return vendors.Fetch[Contact](ctx, c.c, vendors.NewRequest(http.MethodPost, "/contacts", nil, in))
}

// UpdateContact changes the given fields of a contact (PUT: safe to retry).
func (c *Client) UpdateContact(ctx context.Context, id string, in ContactFields) (*Contact, error) {
	return vendors.Fetch[Contact](ctx, c.c, vendors.NewRequest(http.MethodPut, "/contacts/"+url.PathEscape(id), nil, in))
}

// Deal is a sales opportunity.
type Deal struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	ContactID string    `json:"contact_id,omitempty"`
	Value     int64     `json:"value"` // smallest currency unit
	Stage     string    `json:"stage"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DealFields is the body of POST /deals and PUT /deals/{id}; nil or empty
// fields are left out.
type DealFields struct {
	Title     string `json:"title,omitempty"`
	ContactID string `json:"contact_id,omitempty"`
	Value     *int64 `json:"value,omitempty"`
	Stage     string `json:"stage,omitempty"`
}

// ListDeals returns one page of deals, least recently updated first. A
// cursor keeps the page size and filter of its first page.
func (c *Client) ListDeals(ctx context.Context, r vendors.PageRequest, f Filter) (vendors.Page[Deal], error) {
	return list[Deal](ctx, c, "/deals", r, f)
}

// CreateDeal opens a deal. Not retried once sent.
func (c *Client) CreateDeal(ctx context.Context, in DealFields) (*Deal, error) {
	return vendors.Fetch[Deal](ctx, c.c, vendors.NewRequest(http.MethodPost, "/deals", nil, in))
}

// UpdateDeal changes the given fields of a deal (PUT: safe to retry).
func (c *Client) UpdateDeal(ctx context.Context, id string, in DealFields) (*Deal, error) {
	return vendors.Fetch[Deal](ctx, c.c, vendors.NewRequest(http.MethodPut, "/deals/"+url.PathEscape(id), nil, in))
}

// Recording is a recorded call.
type Recording struct {
	ID                string    `json:"id"`
	ContactID         string    `json:"contact_id,omitempty"`
	DurationSeconds   int       `json:"duration_seconds"`
	RecordedAt        time.Time `json:"recorded_at"`
	URL               string    `json:"url"` // the audio file
	TranscriptSummary string    `json:"transcript_summary,omitempty"`
}

// ListRecordings returns one page of call recordings. A cursor keeps the
// page size of its first page.
func (c *Client) ListRecordings(ctx context.Context, r vendors.PageRequest) (vendors.Page[Recording], error) {
	return list[Recording](ctx, c, "/recordings", r, Filter{})
}

// GetRecording returns one call recording.
func (c *Client) GetRecording(ctx context.Context, id string) (*Recording, error) {
	return vendors.Fetch[Recording](ctx, c.c, vendors.NewRequest(http.MethodGet, "/recordings/"+url.PathEscape(id), nil, nil))
}

// Template is an approved WhatsApp Business template.
type Template struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Language      string `json:"language"`
	Category      string `json:"category,omitempty"`
	Status        string `json:"status"`
	Body          string `json:"body"`           // with {{1}}, {{2}}... placeholders
	VariableCount int    `json:"variable_count"` // how many variables a send must give
}

// ListTemplates returns one page of WhatsApp templates. A cursor keeps
// the page size of its first page.
func (c *Client) ListTemplates(ctx context.Context, r vendors.PageRequest) (vendors.Page[Template], error) {
	return list[Template](ctx, c, "/whatsapp_templates", r, Filter{})
}

// SendMessage is the body of POST /whatsapp_templates/{id}/send_message:
// exactly one of Phone or ContactID.
type SendMessage struct {
	Phone     string   `json:"phone,omitempty"`
	ContactID string   `json:"contact_id,omitempty"`
	Variables []string `json:"variables"`
}

// Message is a WhatsApp message the vendor accepted for delivery.
type Message struct {
	ID         string    `json:"id"`
	TemplateID string    `json:"template_id"`
	Phone      string    `json:"phone"`
	ContactID  string    `json:"contact_id,omitempty"`
	Status     string    `json:"status"`
	Body       string    `json:"body,omitempty"` // the rendered text
	CreatedAt  time.Time `json:"created_at"`
}

// SendTemplate sends a template to a phone or contact. Never re-sent once
// the vendor may have received it.
func (c *Client) SendTemplate(ctx context.Context, templateID string, in SendMessage) (*Message, error) {
	if in.Variables == nil {
		in.Variables = []string{}
	}
	path := "/whatsapp_templates/" + url.PathEscape(templateID) + "/send_message"
	return vendors.Fetch[Message](ctx, c.c, vendors.NewRequest(http.MethodPost, path, nil, in))
}

// Task is a follow-up to do.
type Task struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	ContactID string     `json:"contact_id,omitempty"`
	DealID    string     `json:"deal_id,omitempty"`
	DueAt     *time.Time `json:"due_at,omitempty"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
}

// NewTask is the body of POST /tasks.
type NewTask struct {
	Title     string     `json:"title"`
	ContactID string     `json:"contact_id,omitempty"`
	DealID    string     `json:"deal_id,omitempty"`
	DueAt     *time.Time `json:"due_at,omitempty"`
}

// CreateTask adds a task. Not retried once sent.
func (c *Client) CreateTask(ctx context.Context, in NewTask) (*Task, error) {
	return vendors.Fetch[Task](ctx, c.c, vendors.NewRequest(http.MethodPost, "/tasks", nil, in))
}

// list reads one page of a page-numbered list. The first page asks for
// r.Limit (the vendor checks it: 1 to 1000) or DefaultLimit.
func list[T any](ctx context.Context, c *Client, path string, r vendors.PageRequest, f Filter) (vendors.Page[T], error) {
	p, err := start(r, f)
	if err != nil {
		return vendors.Page[T]{}, err
	}
	var b body[T]
	if err := c.c.Do(ctx, vendors.NewRequest(http.MethodGet, path, p.query(), nil), &b); err != nil {
		return vendors.Page[T]{}, err
	}
	return vendors.NewPage(b.Data, b.Total, p.next(len(b.Data), b.Total)), nil
}

// decodeError reads {"error": "...", "details": {...}}. On a validation
// failure (400, 422) the details name fields, renamed to our arguments; on
// other failures (a 429's window and docs link) they are not fields.
func decodeError(body []byte, e *vendors.Error) {
	var v struct {
		Error   string          `json:"error"`
		Details json.RawMessage `json:"details"`
	}
	if json.Unmarshal(body, &v) != nil {
		return
	}
	e.Message = v.Error
	var details map[string]json.RawMessage
	if json.Unmarshal(v.Details, &details) != nil || e.Kind != vendors.KindInvalid {
		return
	}
	for k, raw := range details {
		if e.Fields == nil {
			e.Fields = map[string]string{}
		}
		e.Fields[argName(k)] = detail(raw)
	}
}

// detail renders one details value: a string, a list of strings, or JSON.
func detail(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil {
		return strings.Join(ss, "; ")
	}
	return string(raw)
}

// renamed are vendor query names whose tool argument has another name.
var renamed = map[string]string{
	"updated_at_from": "updated_since",
	"updated_at":      "updated_since",
	"page":            "cursor",
}

// argName converts a vendor field name to the tools' snake_case argument name.
func argName(field string) string {
	var b strings.Builder
	for i, r := range field {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	if n, ok := renamed[b.String()]; ok {
		return n
	}
	return b.String()
}
