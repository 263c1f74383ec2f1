package vixieestest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
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
// authenticates it (Vixiees signs nothing). Deliveries leave in order, one
// at a time, after the API call has answered; one not answered 2xx is sent
// again (3 attempts, 1 s then 2 s apart) with the same id, then dropped. At
// most 1000 wait; beyond, new ones are dropped.

// SendWebhooks makes the emulator send its webhooks to url (the receiving
// URL, its token included) through c (nil: a client with a 10 s timeout).
// An empty url stops them.
func (e *Emulator) SendWebhooks(url string, c *http.Client) {
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	e.hooks.mu.Lock()
	defer e.hooks.mu.Unlock()
	e.hooks.url, e.hooks.client = url, c
}

// Webhooks is how many webhooks were delivered (answered 2xx) so far.
func (e *Emulator) Webhooks() int {
	e.hooks.mu.Lock()
	defer e.hooks.mu.Unlock()
	return e.hooks.delivered
}

// outbox queues webhooks and delivers them in order.
type outbox struct {
	mu        sync.Mutex
	url       string
	client    *http.Client
	queue     []delivery
	running   bool
	delivered int
}

type delivery struct {
	url    string
	client *http.Client
	body   []byte
}

// emit queues the webhook event about record, when webhooks are on; the
// record is encoded now (callers hold e.mu, so it is consistent).
func (e *Emulator) emit(event string, record any) {
	o := &e.hooks
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.url == "" || len(o.queue) >= 1000 {
		return
	}
	body, err := json.Marshal(map[string]any{"id": "whk_" + strings.ToLower(rand.Text()[:20]), "event": event,
		"timestamp": emulator.Now().Format(time.RFC3339), "data": record})
	if err != nil {
		return
	}
	o.queue = append(o.queue, delivery{o.url, o.client, body})
	if !o.running {
		o.running = true
		go o.drain()
	}
}

// drain delivers the queue, then stops until the next emit.
func (o *outbox) drain() {
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.running = false
			o.mu.Unlock()
			return
		}
		d := o.queue[0]
		o.queue = o.queue[1:]
		o.mu.Unlock()
		if d.send() {
			o.mu.Lock()
			o.delivered++
			o.mu.Unlock()
		}
	}
}

func (d delivery) send() bool {
	for attempt := 1; attempt <= 3; attempt++ {
		if attempt > 1 {
			time.Sleep(time.Duration(attempt-1) * time.Second)
		}
		req, err := http.NewRequest(http.MethodPost, d.url, bytes.NewReader(d.body))
		if err != nil {
			return false
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Vixiees-Webhooks (crm-mcp sandbox)")
		resp, err := d.client.Do(req)
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return true
		}
	}
	return false
}
