// Package vivre is a client of the Vivre REST API (shared/vendor-docs/vivre.txt):
// contacts, deals and activities, Bearer + X-Workspace-ID auth, limit/offset
// paging (max 500), 60 requests/min on Free and 600/min on Pro.
//
// Where the doc is silent we assume, and the emulator (vivretest) agrees:
//   - single-object responses (create, get, update) come as {"data": {...}}
//     or bare; both are read;
//   - errors are {"error": "<code>", "message": "...", "field": "<name>"},
//     with "fields": {"name": "problem"} accepted too;
//   - deal stages are those of contacts plus "lost"
//     (new | qualified | proposal | won | lost);
//   - unknown ids answer 404.
//
// Ids are opaque strings in the doc's shape: cnt_8821 for contacts, dl_4420
// for deals (activities: act_<n>, as the emulator has them). The API can
// neither list nor read deals, so a deal id comes from CreateDeal (or from
// Vivre's deal webhooks and its app); the emulator seeds the doc's dl_4420.
//
// # Webhooks
//
// The doc names the events (contact.created, contact.updated,
// contact.scored, deal.created, deal.stage_changed, deal.won,
// activity.logged), says each POST carries an X-Vivre-Signature header "for
// HMAC-SHA256 verification", and wants HTTP 200 within 5 seconds. It shows
// neither the signature's encoding nor a body. We assume, and VerifyWebhook
// and crm-mcp's receiver (POST /webhooks/vivre) follow:
//   - the signature is the HMAC-SHA256 of the raw request body, keyed with
//     the webhook signing secret shown where the endpoint is registered
//     (VIVRE_WEBHOOK_SECRET), in hex (either case), bare or as
//     "sha256=<hex>" (GitHub's form); nothing else is signed: no timestamp,
//     so a replayed delivery is recognised by its event id instead;
//   - the body is one JSON object, the record in its API shape under "data":
//     {"id": "evt_…", "event": "deal.stage_changed", "created_at":
//     "2026-06-13T14:00:00Z", "workspace_id": "ws_abc123", "data": {"id":
//     "dl_4420", "contact_id": "cnt_8821", "stage": "won", …}}; "type" is
//     read when "event" is absent, "occurred_at" or "timestamp" when
//     "created_at" is, and an "event_id" when "id" is;
//   - the record's kind is the event's prefix (contact, deal, activity) and
//     its id is data.id ("contact_id", "deal_id" or "activity_id" too);
//   - a delivery without an event id is the same event as another with the
//     same bytes (deduplicated by the body's SHA-256);
//   - a delivery not answered 200 in time is sent again, with the same id.
package vivre

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// Name is the vendor's name in tool names, limiter keys and errors.
const Name = "vivre"

// DefaultBaseURL is the documented base URL.
const DefaultBaseURL = "https://api.invrsys.com/vivre/v1"

// Stages of contacts; deals also accept "lost".
var (
	ContactStages = []string{"new", "qualified", "proposal", "won"}
	DealStages    = []string{"new", "qualified", "proposal", "won", "lost"}
	ActivityTypes = []string{"call", "email", "meeting", "note"}
)

// Config is Vivre's configuration, read from the environment.
type Config struct {
	APIKey      string `env:"VIVRE_API_KEY"`
	WorkspaceID string `env:"VIVRE_WORKSPACE_ID"`
	Plan        string `env:"VIVRE_PLAN, default=free"` // free or pro, in any case
	RateLimit   int    `env:"VIVRE_RATE_LIMIT"`         // requests/min; overrides the plan; 0: not set
	BaseURL     string `env:"VIVRE_BASE_URL, default=https://api.invrsys.com/vivre/v1"`
}

// Configured reports whether credentials are present.
func (c Config) Configured() bool { return c.APIKey != "" && c.WorkspaceID != "" }

// PerMinute is the request budget per minute for this configuration.
func (c Config) PerMinute() int {
	switch {
	case c.RateLimit > 0:
		return c.RateLimit
	case c.plan() == "pro":
		return 600
	default:
		return 60
	}
}

// plan is Plan in lower case ("" when not set).
func (c Config) plan() string { return strings.ToLower(strings.TrimSpace(c.Plan)) }

// Check reports, naming the env vars and what is allowed, what keeps a
// Config read from the environment from working: a plan other than free or
// pro, a negative rate limit (0 means not set), a base URL that is not an
// absolute http(s) URL, a key without its workspace or the reverse, or
// settings without the credentials they are for. Nothing set at all is
// fine: Vivre is simply not used. Check never quotes a credential.
func (c Config) Check() error {
	var ck vendors.ConfigCheck
	if p := c.plan(); p != "" && p != "free" && p != "pro" {
		ck.Add("VIVRE_PLAN: %q is not a Vivre plan; use free (60 requests/min) or pro (600/min), in any case", c.Plan)
	}
	if c.RateLimit < 0 {
		ck.Add("VIVRE_RATE_LIMIT: %d is not a rate; use requests per minute, at least 1, or leave it unset to follow VIVRE_PLAN", c.RateLimit)
	}
	ck.BaseURL("VIVRE_BASE_URL", c.BaseURL, DefaultBaseURL)
	switch {
	case c.APIKey != "" && c.WorkspaceID == "":
		ck.Add("VIVRE_WORKSPACE_ID is not set: Vivre needs it together with VIVRE_API_KEY")
	case c.APIKey == "" && c.WorkspaceID != "":
		ck.Add("VIVRE_API_KEY is not set: Vivre needs it together with VIVRE_WORKSPACE_ID")
	case c.APIKey == "":
		ck.WithoutKey("Vivre", []string{"VIVRE_API_KEY", "VIVRE_WORKSPACE_ID"}, vendors.If(c.plan() != "" && c.plan() != "free", "VIVRE_PLAN"),
			vendors.If(c.RateLimit != 0, "VIVRE_RATE_LIMIT"), vendors.If(c.BaseURL != "" && c.BaseURL != DefaultBaseURL, "VIVRE_BASE_URL"))
	}
	return ck.Err()
}

// VerifyWebhook reports whether signature, an X-Vivre-Signature header, is
// the HMAC-SHA256 of body under secret: hex in either case, bare or after
// "sha256=" (see the package doc), compared in constant time. An empty
// secret or signature, or one that is not hex of 32 bytes, never verifies.
func VerifyWebhook(secret string, body []byte, signature string) bool {
	sig := strings.TrimSpace(signature)
	if len(sig) > 7 && strings.EqualFold(sig[:7], "sha256=") {
		sig = sig[7:]
	}
	got, err := hex.DecodeString(sig)
	if secret == "" || err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Client calls Vivre with one API key and workspace.
type Client struct{ c *vendors.Client }

// Identity is a one-way digest of the credential this client sends.
func (c *Client) Identity() string { return c.c.Identity }

// New returns a client for cfg.
func New(cfg Config, o vendors.Options) *Client {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+cfg.APIKey)
	h.Set("X-Workspace-ID", cfg.WorkspaceID)
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	windows := []ratelimit.Window{{Limit: cfg.PerMinute(), Period: time.Minute}}
	c := o.NewClient(Name, base, h, windows, cfg.APIKey, cfg.WorkspaceID)
	c.DecodeError = decodeError
	return &Client{c: c}
}

// Contact is a person or organisation in the pipeline.
type Contact struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Company   string    `json:"company,omitempty"`
	AIScore   int       `json:"ai_score"`
	Stage     string    `json:"stage,omitempty"`
	Tags      []string  `json:"tags,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// DefaultContactsLimit is the documented page size of GET /contacts.
const DefaultContactsLimit = 50

// ContactFilter narrows GET /contacts; the zero value lists every contact.
type ContactFilter struct {
	Search   string // name, email or company contains it
	ScoreMin *int   // AI score at least this (0-100)
}

// ListContacts returns one page of the contacts matching f, newest first:
// at most p.Limit (1..500, 0 for the documented 50) from p.Cursor. Vivre
// pages by offset: the cursor carries the offset only, so the limit and
// the filter are each call's own.
func (c *Client) ListContacts(ctx context.Context, f ContactFilter, p vendors.PageRequest) (vendors.Page[Contact], error) {
	q, offset, limit, err := p.OffsetQuery(Name, DefaultContactsLimit)
	if err != nil {
		return vendors.Page[Contact]{}, err
	}
	if f.Search != "" {
		q.Set("search", f.Search)
	}
	if f.ScoreMin != nil {
		q.Set("score_min", strconv.Itoa(*f.ScoreMin))
	}
	var page struct {
		Data  []Contact `json:"data"`
		Total int       `json:"total"`
	}
	if err := c.c.Do(ctx, vendors.NewRequest(http.MethodGet, "/contacts", q, nil), &page); err != nil {
		return vendors.Page[Contact]{}, err
	}
	return vendors.OffsetPage(page.Data, offset, limit, page.Total), nil
}

// GetContact returns one contact.
func (c *Client) GetContact(ctx context.Context, id string) (*Contact, error) {
	return vendors.Fetch[Contact](ctx, c.c, vendors.NewRequest(http.MethodGet, "/contacts/"+url.PathEscape(id), nil, nil))
}

// NewContact is the body of POST /contacts.
type NewContact struct {
	Name    string   `json:"name"`
	Email   string   `json:"email"`
	Company string   `json:"company,omitempty"`
	Stage   string   `json:"stage,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// CreateContact adds a contact. Not retried once sent.
func (c *Client) CreateContact(ctx context.Context, in NewContact) (*Contact, error) {
	return vendors.Fetch[Contact](ctx, c.c, vendors.NewRequest(http.MethodPost, "/contacts", nil, in))
}

// Deal is a sales opportunity of a contact.
type Deal struct {
	ID        string     `json:"id"`
	ContactID string     `json:"contact_id"`
	Title     string     `json:"title"`
	Value     int64      `json:"value"` // smallest currency unit
	Stage     string     `json:"stage"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at,omitzero"`
}

// NewDeal is the body of POST /deals.
type NewDeal struct {
	ContactID string `json:"contact_id"`
	Title     string `json:"title"`
	Value     *int64 `json:"value,omitempty"`
	Stage     string `json:"stage,omitempty"`
}

// CreateDeal opens a deal. Not retried once sent.
func (c *Client) CreateDeal(ctx context.Context, in NewDeal) (*Deal, error) {
	return vendors.Fetch[Deal](ctx, c.c, vendors.NewRequest(http.MethodPost, "/deals", nil, in))
}

// DealUpdate is the body of PUT /deals/:id; nil fields are left unchanged.
type DealUpdate struct {
	Stage    string     `json:"stage,omitempty"`
	Title    string     `json:"title,omitempty"`
	Value    *int64     `json:"value,omitempty"`
	ClosedAt *time.Time `json:"closed_at,omitempty"`
}

// UpdateDeal changes a deal (PUT: safe to retry).
func (c *Client) UpdateDeal(ctx context.Context, id string, in DealUpdate) (*Deal, error) {
	return vendors.Fetch[Deal](ctx, c.c, vendors.NewRequest(http.MethodPut, "/deals/"+url.PathEscape(id), nil, in))
}

// Activity is a call, email, meeting or note logged on a contact or deal.
type Activity struct {
	ID        string    `json:"id"`
	ContactID string    `json:"contact_id"`
	DealID    string    `json:"deal_id,omitempty"`
	Type      string    `json:"type"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// NewActivity is the body of POST /activities.
type NewActivity struct {
	ContactID string `json:"contact_id"`
	DealID    string `json:"deal_id,omitempty"`
	Type      string `json:"type"`
	Note      string `json:"note,omitempty"`
}

// LogActivity records an activity. Not retried once sent.
func (c *Client) LogActivity(ctx context.Context, in NewActivity) (*Activity, error) {
	return vendors.Fetch[Activity](ctx, c.c, vendors.NewRequest(http.MethodPost, "/activities", nil, in))
}

// decodeError reads Vivre's error body.
func decodeError(body []byte, e *vendors.Error) {
	var v struct {
		Error   string            `json:"error"`
		Message string            `json:"message"`
		Field   string            `json:"field"`
		Fields  map[string]string `json:"fields"`
	}
	if json.Unmarshal(body, &v) != nil {
		return
	}
	e.Code, e.Message = v.Error, v.Message
	if v.Field != "" {
		e.Fields = map[string]string{v.Field: v.Message}
	}
	for k, m := range v.Fields {
		if e.Fields == nil {
			e.Fields = map[string]string{}
		}
		e.Fields[k] = m
	}
}
