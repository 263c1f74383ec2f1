package vivretest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
)

// Webhooks. Once SendWebhooks is called, every change made through the
// emulator's API is POSTed to a receiver as Vivre's webhooks are assumed to
// look (vendors/vivre's package doc): contact.created, deal.created,
// deal.stage_changed (and deal.won when the new stage is won) and
// activity.logged, each
//
//	{"id": "evt_<random>", "event": "deal.won", "created_at": "<RFC 3339>",
//	 "workspace_id": "<the workspace>", "data": {<the record as the API returns it>}}
//
// signed with X-Vivre-Signature, the hex HMAC-SHA256 of the body under the
// secret, delivered by an emulator.Outbox.

// SendWebhooks makes the emulator send its webhooks to url, signed with
// secret, through c (nil: a client with a 10 s timeout). An empty url
// stops them.
func (e *Emulator) SendWebhooks(url, secret string, c *http.Client) {
	e.hooks.Configure(url, func(body []byte) http.Header {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		return http.Header{"X-Vivre-Signature": {hex.EncodeToString(mac.Sum(nil))}, "User-Agent": {"Vivre-Webhooks (crm-mcp sandbox)"}}
	}, c)
}

// Webhooks is how many webhooks were delivered (answered 2xx) so far.
func (e *Emulator) Webhooks() int { return e.hooks.Delivered() }

// emit queues the webhook event about record, when webhooks are on; the
// record is encoded now (callers hold e.mu, so it is consistent).
func (e *Emulator) emit(event string, record any) {
	e.hooks.EmitJSON(func() any {
		return map[string]any{"id": emulator.EventID("evt_"), "event": event,
			"created_at": emulator.Now().Format(time.RFC3339), "workspace_id": e.opts.WorkspaceID, "data": record}
	})
}
