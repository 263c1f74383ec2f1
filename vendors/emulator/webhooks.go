package emulator

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Outbox is an emulator's webhook sender: events about changes made through
// its API are queued and POSTed to the receiver in order, one at a time,
// after the API call has answered. One not answered 2xx is sent again (3
// attempts, 1 s then 2 s apart) with the same body, then dropped. At most
// 1000 wait; beyond, new ones are dropped. The zero value sends nothing
// until Configure.
type Outbox struct {
	mu        sync.Mutex
	url       string
	headers   func(body []byte) http.Header
	client    *http.Client
	queue     []delivery
	running   bool
	delivered int
}

type delivery struct {
	url    string
	header http.Header
	client *http.Client
	body   []byte
}

// Configure sends webhooks to url through c (nil: a client with a 10 s
// timeout), each with the headers headers makes for its body (a vendor's
// signature). An empty url stops them.
func (o *Outbox) Configure(url string, headers func(body []byte) http.Header, c *http.Client) {
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.url, o.headers, o.client = url, headers, c
}

// Delivered is how many webhooks were answered 2xx so far.
func (o *Outbox) Delivered() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.delivered
}

// On reports whether webhooks are being sent (so a caller can skip
// building a body).
func (o *Outbox) On() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.url != ""
}

// EmitJSON queues event() as JSON, when webhooks are on: it is built only
// then, and at once, so a caller holding its lock sends a consistent record.
func (o *Outbox) EmitJSON(event func() any) {
	if !o.On() {
		return
	}
	if body, err := json.Marshal(event()); err == nil {
		o.Emit(body)
	}
}

// Emit queues body, when webhooks are on.
func (o *Outbox) Emit(body []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.url == "" || len(o.queue) >= 1000 {
		return
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if o.headers != nil {
		for k, v := range o.headers(body) {
			h[k] = v
		}
	}
	o.queue = append(o.queue, delivery{o.url, h, o.client, body})
	if !o.running {
		o.running = true
		go o.drain()
	}
}

// EventID is a random webhook event id with prefix ("evt_", "whk_").
func EventID(prefix string) string { return prefix + strings.ToLower(rand.Text()[:20]) }

// drain delivers the queue, then stops until the next Emit.
func (o *Outbox) drain() {
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
		req.Header = d.header.Clone()
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
