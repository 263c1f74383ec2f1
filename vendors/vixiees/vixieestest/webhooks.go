package vixieestest

import (
	"net/http"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
)

// Webhooks. Once SendWebhooks is called, every contact or deal created or
// changed through the emulator's API is POSTed to a receiver as Vixiees'
// webhooks are assumed to look (vendors/vixiees' package doc):
// contact_updated and deal_updated (the doc names no "created" events: a
// new record is an update too), each
//
//	{"id": "whk_<random>", "event": "deal_updated", "timestamp": "<RFC 3339>",
//	 "data": {<the record as the API returns it>}}
//
// to the URL registered with Vixiees, whose secret path token is all that
// authenticates it (Vixiees signs nothing), delivered by an emulator.Outbox.

// SendWebhooks makes the emulator send its webhooks to url (the receiving
// URL, its token included) through c (nil: a client with a 10 s timeout).
// An empty url stops them.
func (e *Emulator) SendWebhooks(url string, c *http.Client) {
	e.hooks.Configure(url, func([]byte) http.Header {
		return http.Header{"User-Agent": {"Vixiees-Webhooks (crm-mcp sandbox)"}}
	}, c)
}

// Webhooks is how many webhooks were delivered (answered 2xx) so far.
func (e *Emulator) Webhooks() int { return e.hooks.Delivered() }

// emit queues the webhook event about record, when webhooks are on; the
// record is encoded now (callers hold e.mu, so it is consistent).
func (e *Emulator) emit(event string, record any) {
	e.hooks.EmitJSON(func() any {
		return map[string]any{"id": emulator.EventID("whk_"), "event": event,
			"timestamp": emulator.Now().Format(time.RFC3339), "data": record}
	})
}
