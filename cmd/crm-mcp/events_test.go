package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/events"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees"
)

const (
	testSecret = "whsec_test_3f9a7c1e5b"
	testToken  = "vxtok_8c1d2e3f4a5b6c7d8e9f"
)

// startEvents builds an app from kv (over http on a loopback port), lets
// set adjust it before it serves, and serves it; stop (also run when the
// test ends) shuts it down and closes it, event log and poller included.
func startEvents(t testing.TB, set func(*app), kv ...string) (a *app, base string, stop func()) {
	t.Helper()
	cfg, l := testConfig(t, append([]string{"CRM_MCP_SHUTDOWN_GRACE", "5s"}, kv...)...)
	a, err := build(context.Background(), cfg, l, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(a)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serveListener(ctx, ln) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.close()
	})
	t.Cleanup(stop)
	return a, "http://" + ln.Addr().String(), stop
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// recent is a time an hour ago, to the second: events older than
// CRM_MCP_EVENTS_MAX_AGE are not stored.
var recent = time.Now().UTC().Truncate(time.Second).Add(-time.Hour)

func vivreBody(id, event, record string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"event":%q,"created_at":%q,"workspace_id":"ws_abc123",`+
		`"data":{"id":%q,"contact_id":"cnt_8821","stage":"won","previous_stage":"proposal"}}`, id, event, recent.Format(time.RFC3339), record)
}

var webhookClient = &http.Client{Timeout: 30 * time.Second}

// deliver POSTs body to url with the given headers (name, value, ...).
func deliver(t testing.TB, url string, body io.Reader, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := webhookClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func deliverVivre(t testing.TB, base string, body []byte) (int, string) {
	t.Helper()
	return deliver(t, base+"/webhooks/vivre", bytes.NewReader(body), "X-Vivre-Signature", sign(testSecret, body))
}

// logged lists the app's events of vendor (all of them: the sandbox's Qyvo
// poller adds its own).
func logged(t testing.TB, a *app, vendor string) []events.Event {
	t.Helper()
	var out []events.Event
	after := ""
	for {
		evs, next, err := a.events.log.List(context.Background(), events.Query{Vendor: vendor, After: after, Limit: events.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
		if next == after || next == "" {
			return out
		}
		after = next
	}
}

func TestVivreSignatureIsChecked(t *testing.T) {
	a, base, _ := startEvents(t, nil, "CRM_MCP_SANDBOX", "true", "VIVRE_WEBHOOK_SECRET", testSecret)
	url := base + "/webhooks/vivre"
	body := vivreBody("evt_1", "deal.won", "dl_4420")
	mac, _ := hex.DecodeString(sign(testSecret, body))
	good := sign(testSecret, body)
	tampered := bytes.Replace(body, []byte(`"won"`), []byte(`"lost"`), 1)
	for _, c := range []struct {
		name string
		body []byte
		sig  []string
	}{
		{"no signature", body, nil},
		{"empty signature", body, []string{"X-Vivre-Signature", ""}},
		{"wrong secret", body, []string{"X-Vivre-Signature", sign("another-secret", body)}},
		{"empty secret", body, []string{"X-Vivre-Signature", sign("", body)}},
		{"base64, not hex", body, []string{"X-Vivre-Signature", base64.StdEncoding.EncodeToString(mac)}},
		{"sha256= base64", body, []string{"X-Vivre-Signature", "sha256=" + base64.StdEncoding.EncodeToString(mac)}},
		{"not hex", body, []string{"X-Vivre-Signature", "zz" + good[2:]}},
		{"truncated", body, []string{"X-Vivre-Signature", good[:62]}},
		{"too long", body, []string{"X-Vivre-Signature", good + "00"}},
		{"sha1= prefix", body, []string{"X-Vivre-Signature", "sha1=" + good}},
		{"two signatures", body, []string{"X-Vivre-Signature", good + "," + good}},
		{"signature of another body", body, []string{"X-Vivre-Signature", sign(testSecret, vivreBody("evt_2", "deal.won", "dl_1"))}},
		{"body tampered", tampered, []string{"X-Vivre-Signature", good}},
		{"another header", body, []string{"X-Signature", good}},
	} {
		if code, msg := deliver(t, url, bytes.NewReader(c.body), c.sig...); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", c.name, code, msg)
		}
	}
	if evs := logged(t, a, "vivre"); len(evs) != 0 {
		t.Fatalf("refused deliveries were stored: %v", evs)
	}
	if code, msg := deliver(t, url, bytes.NewReader(body), "X-Vivre-Signature", good); code != 200 || !strings.Contains(msg, `"stored":true`) {
		t.Fatalf("hex signature: %d %s", code, msg)
	}
	other := vivreBody("evt_2", "contact.created", "cnt_1")
	if code, msg := deliver(t, url, bytes.NewReader(other), "X-Vivre-Signature", " sha256="+strings.ToUpper(sign(testSecret, other))); code != 200 {
		t.Fatalf("sha256=<HEX> signature: %d %s", code, msg)
	}
	if evs := logged(t, a, "vivre"); len(evs) != 2 {
		t.Fatalf("%d events stored, want 2", len(evs))
	}
}

func TestVerifyWebhookRefusesAnEmptySecret(t *testing.T) {
	body := []byte(`{}`)
	if vivre.VerifyWebhook("", body, sign("", body)) {
		t.Fatal("vivre: an empty secret verified")
	}
	if vixiees.VerifyWebhookToken("", "") {
		t.Fatal("vixiees: an empty token verified")
	}
	if !vivre.VerifyWebhook("s", body, sign("s", body)) || !vixiees.VerifyWebhookToken("t", "t") {
		t.Fatal("the right secret does not verify")
	}
}

// Receivers exist only when their secret is set.
func TestReceiversNeedTheirSecret(t *testing.T) {
	a, base, _ := startEvents(t, nil, "CRM_MCP_SANDBOX", "true")
	body := vivreBody("evt_1", "deal.won", "dl_4420")
	for _, path := range []string{"/webhooks/vivre", "/webhooks/vixiees/", "/webhooks/vixiees/x"} {
		if code, _ := deliver(t, base+path, bytes.NewReader(body), "X-Vivre-Signature", sign("", body)); code != http.StatusNotFound {
			t.Errorf("%s without a secret: %d, want 404", path, code)
		}
	}
	if len(logged(t, a, "vivre"))+len(logged(t, a, "vixiees")) != 0 {
		t.Fatal("stored without a receiver")
	}
}

// Vixiees' token is in the path; the receivers skip the bearer token that
// guards /mcp, and keep the Host check.
func TestVixieesTokenAndTheGuard(t *testing.T) {
	a, base, _ := startEvents(t, nil, "CRM_MCP_SANDBOX", "true", "VIXIEES_WEBHOOK_TOKEN", testToken,
		"VIVRE_WEBHOOK_SECRET", testSecret, "MCP_AUTH_TOKENS", "mcp-bearer-token")
	body := []byte(`{"event":"deal_updated","id":"whk_1","data":{"id":"vx_deal_5001","stage":"won"}}`)
	for _, tok := range []string{"x", testToken + "x", testToken[:len(testToken)-1], strings.ToUpper(testToken), "%20" + testToken, testToken + "/x", "..%2f" + testToken} {
		if code, _ := deliver(t, base+"/webhooks/vixiees/"+tok, bytes.NewReader(body)); code == 200 {
			t.Errorf("token %q: 200", tok)
		} else if code != http.StatusUnauthorized && code != http.StatusNotFound {
			t.Errorf("token %q: %d, want 401 (or 404)", tok, code)
		}
	}
	if code, _ := deliver(t, base+"/webhooks/vixiees/", bytes.NewReader(body)); code == 200 {
		t.Error("no token: 200")
	}
	if code, _ := deliver(t, base+"/webhooks/vixiees/x", bytes.NewReader(bytes.Repeat([]byte("a"), 1<<20))); code != http.StatusUnauthorized {
		t.Errorf("a wrong token with a big body: %d, want 401 before reading it", code)
	}
	if evs := logged(t, a, "vixiees"); len(evs) != 0 {
		t.Fatalf("refused deliveries were stored: %v", evs)
	}
	if code, msg := deliver(t, base+"/webhooks/vixiees/"+testToken, bytes.NewReader(body)); code != 200 {
		t.Fatalf("right token, no bearer token: %d %s", code, msg)
	}
	if code, _ := deliver(t, base+"/mcp", strings.NewReader(`{}`)); code != http.StatusUnauthorized {
		t.Fatalf("/mcp without the bearer token: %d; only /webhooks/ skip it", code)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/vixiees/"+testToken, bytes.NewReader(body))
	req.Host = "evil.example"
	resp, err := webhookClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign Host: %d, want 403", resp.StatusCode)
	}
	if code, _ := deliver(t, base+"/webhooks/vixiees/"+testToken, bytes.NewReader(body), "Origin", "https://evil.example"); code != http.StatusForbidden {
		t.Fatalf("a foreign Origin: %d, want 403", code)
	}
	// A path that only looks like a receiver's is not let through.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhooks/../mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line := make([]byte, 12)
	if _, err := io.ReadFull(conn, line); err != nil || !strings.Contains(string(line), "401") {
		t.Fatalf("POST /webhooks/../mcp: %q %v, want 401", line, err)
	}
	if evs := logged(t, a, "vixiees"); len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
}

func TestWebhookBodies(t *testing.T) {
	a, base, _ := startEvents(t, nil, "CRM_MCP_SANDBOX", "true", "VIVRE_WEBHOOK_SECRET", testSecret, "VIXIEES_WEBHOOK_TOKEN", testToken)
	big := append([]byte(`{"id":"evt_big","event":"x","pad":"`), bytes.Repeat([]byte("a"), webhookMaxBytes)...)
	big = append(big, `"}`...)
	if code, _ := deliverVivre(t, base, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("over the limit: %d, want 413", code)
	}
	// The same without a Content-Length (chunked): cut while reading.
	if code, _ := deliver(t, base+"/webhooks/vivre", io.MultiReader(bytes.NewReader(big)), "X-Vivre-Signature", sign(testSecret, big)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("over the limit, chunked: %d, want 413", code)
	}
	if code, _ := deliver(t, base+"/webhooks/vixiees/"+testToken, bytes.NewReader(big)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("vixiees over the limit: %d, want 413", code)
	}
	exact := []byte(`{"id":"evt_exact","event":"contact.updated","pad":"`)
	exact = append(exact, bytes.Repeat([]byte("b"), webhookMaxBytes-len(exact)-2)...)
	exact = append(exact, `"}`...)
	if code, msg := deliverVivre(t, base, exact); len(exact) != webhookMaxBytes || code != 200 {
		t.Errorf("a body of exactly %d bytes: %d %s", len(exact), code, msg)
	}
	for _, b := range []string{"", "hello", "[1,2]", `"evt"`, "null", `{"id":"evt_3"`, `{"id":"evt_3"} {}`} {
		if code, _ := deliverVivre(t, base, []byte(b)); code != http.StatusBadRequest {
			t.Errorf("vivre %q: %d, want 400", b, code)
		}
		if code, _ := deliver(t, base+"/webhooks/vixiees/"+testToken, strings.NewReader(b)); code != http.StatusBadRequest {
			t.Errorf("vixiees %q: %d, want 400", b, code)
		}
	}
	evs := logged(t, a, "vivre")
	if len(evs) != 1 || evs[0].Type != "contact.updated" || len(evs[0].Payload) > events.TrimmedMax {
		t.Fatalf("stored: %d events, the one %+.200v", len(evs), evs)
	}
	if n := len(logged(t, a, "vixiees")); n != 0 {
		t.Fatalf("vixiees: %d events", n)
	}
}

// A delivery made again (same event id, or same body without one) is
// stored once and answered 200 every time.
func TestRedeliveriesAreStoredOnce(t *testing.T) {
	a, base, _ := startEvents(t, nil, "CRM_MCP_SANDBOX", "true", "VIVRE_WEBHOOK_SECRET", testSecret, "VIXIEES_WEBHOOK_TOKEN", testToken)
	body := vivreBody("evt_9", "deal.stage_changed", "dl_4420")
	for i, want := range []string{`"stored":true`, `"stored":false`, `"stored":false`} {
		if code, msg := deliverVivre(t, base, body); code != 200 || !strings.Contains(msg, want) {
			t.Fatalf("delivery %d: %d %s", i+1, code, msg)
		}
	}
	// The same id with another body (a vendor retry re-rendered) is still one event.
	if code, msg := deliverVivre(t, base, bytes.Replace(body, []byte("14:00:00"), []byte("14:00:01"), 1)); code != 200 || !strings.Contains(msg, `"stored":false`) {
		t.Fatalf("same id, other bytes: %d %s", code, msg)
	}
	noID := []byte(`{"event":"contact.scored","data":{"id":"cnt_8821","ai_score":91}}`)
	deliverVivre(t, base, noID)
	if code, msg := deliverVivre(t, base, noID); code != 200 || !strings.Contains(msg, `"stored":false`) {
		t.Fatalf("same body without an id: %d %s", code, msg)
	}
	if code, msg := deliverVivre(t, base, []byte(`{"event":"contact.scored","data":{"id":"cnt_8821","ai_score":92}}`)); code != 200 || !strings.Contains(msg, `"stored":true`) {
		t.Fatalf("another body without an id: %d %s", code, msg)
	}
	vx := []byte(`{"event":"task_completed","data":{"id":"vx_task_1"}}`)
	for range 3 {
		if code, _ := deliver(t, base+"/webhooks/vixiees/"+testToken, bytes.NewReader(vx)); code != 200 {
			t.Fatalf("vixiees: %d", code)
		}
	}
	if n := len(logged(t, a, "vivre")); n != 3 {
		t.Fatalf("vivre: %d events, want 3", n)
	}
	if n := len(logged(t, a, "vixiees")); n != 1 {
		t.Fatalf("vixiees: %d events, want 1", n)
	}
}

// The assumed bodies become events: type, time, record, payload.
func TestWebhookBodiesBecomeEvents(t *testing.T) {
	a, base, _ := startEvents(t, nil, "CRM_MCP_SANDBOX", "true", "VIVRE_WEBHOOK_SECRET", testSecret, "VIXIEES_WEBHOOK_TOKEN", testToken)
	deliverVivre(t, base, vivreBody("evt_1", "deal.stage_changed", "dl_4420"))
	deliverVivre(t, base, fmt.Appendf(nil, `{"event_id":"e2","type":"activity.logged","occurred_at":%d,"data":{"activity_id":"act_7","contact_id":"cnt_8821","type":"call","note":"%s"}}`,
		recent.Unix(), strings.Repeat("n", 900)))
	deliver(t, base+"/webhooks/vixiees/"+testToken, strings.NewReader(`{"event":"submitted_form_created","timestamp":"`+recent.Format("2006-01-02T15:04:05")+
		`","data":{"id":"vx_form_3","fields":{"email":"a@b.example"}}}`))
	deliver(t, base+"/webhooks/vixiees/"+testToken, strings.NewReader(`{"something":"else"}`))
	// A delivery of an event older than CRM_MCP_EVENTS_MAX_AGE is answered and not kept.
	if code, msg := deliverVivre(t, base, []byte(`{"id":"evt_old","event":"deal.won","created_at":"2020-01-01T00:00:00Z","data":{"id":"dl_1"}}`)); code != 200 || !strings.Contains(msg, `"stored":false`) {
		t.Errorf("an old event: %d %s", code, msg)
	}
	vv := logged(t, a, "vivre")
	if len(vv) != 2 {
		t.Fatalf("vivre: %v", vv)
	}
	e := vv[0]
	if e.Type != "deal.stage_changed" || e.RecordKind != "deal" || e.RecordID != "dl_4420" ||
		!e.OccurredAt.Equal(recent) || e.ReceivedAt.IsZero() ||
		string(e.Payload) != `{"contact_id":"cnt_8821","id":"dl_4420","previous_stage":"proposal","stage":"won"}` {
		t.Errorf("deal event: %+v (payload %s)", e, e.Payload)
	}
	e = vv[1]
	if e.Type != "activity.logged" || e.RecordKind != "activity" || e.RecordID != "act_7" || !e.OccurredAt.Equal(recent) ||
		!strings.Contains(string(e.Payload), "…") {
		t.Errorf("activity event: %+v (payload %s)", e, e.Payload)
	}
	vx := logged(t, a, "vixiees")
	if len(vx) != 2 {
		t.Fatalf("vixiees: %v", vx)
	}
	e = vx[0]
	if e.Type != "submitted_form_created" || e.RecordKind != "submitted_form" || e.RecordID != "vx_form_3" ||
		!e.OccurredAt.Equal(recent) {
		t.Errorf("form event: %+v", e)
	}
	e = vx[1]
	if e.Type != "unknown" || e.RecordKind != "" || string(e.Payload) != `{"something":"else"}` || !e.OccurredAt.Equal(e.ReceivedAt) {
		t.Errorf("an unknown body: %+v (payload %s)", e, e.Payload)
	}
}

// blockingLog never finishes storing.
type blockingLog struct{ events.Log }

func (blockingLog) Append(ctx context.Context, _ events.Event, _ string) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

// When storing takes too long the vendor is answered 503 (send again),
// never 200 for an event that is not stored.
func TestWebhookStoreDeadline(t *testing.T) {
	_, base, _ := startEvents(t, func(a *app) { a.events.log = blockingLog{a.events.log} },
		"CRM_MCP_SANDBOX", "true", "VIVRE_WEBHOOK_SECRET", testSecret)
	code, _ := deliverVivre(t, base, vivreBody("evt_1", "deal.won", "dl_1"))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("a store that does not answer: %d, want 503", code)
	}
}

// Two replicas on one Redis: an event received by one is listed by the
// other (whose subscribers are told), a redelivery to the other is not
// stored again, and one poller runs.
func TestTwoReplicasShareEvents(t *testing.T) {
	url := redistest.URL(t)
	kv := []string{"CRM_MCP_SANDBOX", "true", "REDIS_URL", url, "VIVRE_WEBHOOK_SECRET", testSecret}
	a, baseA, _ := startEvents(t, nil, kv...)
	b, baseB, _ := startEvents(t, nil, kv...)
	if a.events.store != "redis" || b.events.store != "redis" {
		t.Fatalf("stores %s and %s", a.events.store, b.events.store)
	}
	ch, cancel := b.events.log.Notify()
	defer cancel()
	time.Sleep(50 * time.Millisecond) // the subscription (a periodic check covers a late one)
	body := vivreBody("evt_r1", "deal.won", "dl_4420")
	if code, msg := deliverVivre(t, baseA, body); code != 200 {
		t.Fatalf("replica a: %d %s", code, msg)
	}
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("replica b was not told of the event")
	}
	ea, eb := logged(t, a, "vivre"), logged(t, b, "vivre")
	if len(eb) != 1 || len(ea) != 1 || ea[0].ID != eb[0].ID || eb[0].RecordID != "dl_4420" {
		t.Fatalf("a lists %v, b lists %v", ea, eb)
	}
	if code, msg := deliverVivre(t, baseB, body); code != 200 || !strings.Contains(msg, `"stored":false`) {
		t.Fatalf("the redelivery to b: %d %s", code, msg)
	}
	if n := len(logged(t, a, "vivre")); n != 1 {
		t.Fatalf("%d events after the redelivery", n)
	}
	eventually(t, "one replica polls Qyvo", func() bool { return a.events.poller.Leading() || b.events.poller.Leading() })
	for range 50 {
		if a.events.poller.Leading() && b.events.poller.Leading() {
			t.Fatal("both replicas poll")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Without Redis, an event acknowledged (200) is on disk: deliveries in
// flight while the server stops are either acknowledged and kept, or
// refused; none is lost and none doubled.
func TestRestartLosesNoAcknowledgedEvent(t *testing.T) {
	dir := t.TempDir()
	kv := []string{"VIVRE_API_KEY", "vv_k", "VIVRE_WORKSPACE_ID", "ws_1", "VIVRE_WEBHOOK_SECRET", testSecret, "CRM_MCP_DATA_DIR", dir}
	a, base, stop := startEvents(t, nil, kv...)
	if a.events.store != "disk" {
		t.Fatalf("store %s, want disk", a.events.store)
	}
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	var n atomic.Int32
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("evt_%d_%d", w, i)
				body := vivreBody(id, "contact.updated", "cnt_"+id)
				req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/vivre", bytes.NewReader(body))
				req.Header.Set("X-Vivre-Signature", sign(testSecret, body))
				resp, err := webhookClient.Do(req)
				if err != nil {
					return // the server is gone
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, "cnt_"+id)
					mu.Unlock()
					n.Add(1)
				}
			}
		}()
	}
	eventually(t, "200 deliveries", func() bool { return n.Load() >= 200 })
	stop()
	wg.Wait()
	a, _, _ = startEvents(t, nil, kv...)
	stored := map[string]int{}
	for _, e := range logged(t, a, "vivre") {
		stored[e.RecordID]++
	}
	for _, id := range acked {
		if stored[id] != 1 {
			t.Errorf("%s was acknowledged and is stored %d times after the restart", id, stored[id])
		}
	}
	for id, k := range stored {
		if k != 1 {
			t.Errorf("%s stored %d times", id, k)
		}
	}
	t.Logf("%d acknowledged, %d stored", len(acked), len(stored))
}

// countingHandler counts requests to an emulator's trigger feeds.
type countingHandler struct {
	h     http.Handler
	reads atomic.Int32
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/triggers/") {
		c.reads.Add(1)
	}
	c.h.ServeHTTP(w, r)
}

// The poller turns the emulator's feed records into events, each once.
func TestQyvoFeedsBecomeEventsOnce(t *testing.T) {
	old := minPollEvery
	minPollEvery = 20 * time.Millisecond
	t.Cleanup(func() { minPollEvery = old })
	emu := qyvotest.New(qyvotest.Options{RatePerMinute: -1})
	counter := &countingHandler{h: emu}
	srv := httptest.NewServer(counter)
	defer srv.Close()
	a, _, stop := startEvents(t, nil, "QYVO_API_TOKEN", qyvotest.APIToken, "QYVO_BASE_URL", srv.URL, "QYVO_RATE_LIMIT", "6000",
		"CRM_MCP_QYVO_POLL_SHARE", "1", "CRM_MCP_EVENTS_MAX_AGE", "87600h", "CRM_MCP_EVENTS_STORE", "memory")
	if a.events.pollEvery != minPollEvery {
		t.Fatalf("poll every %s", a.events.pollEvery)
	}
	want := map[string]int{}
	for _, f := range qyvoFeeds {
		want[f] = min(emu.Feed(f), 100)
	}
	byType := func() map[string]int {
		got := map[string]int{}
		for _, e := range logged(t, a, "qyvo") {
			got[e.Type]++
		}
		return got
	}
	eventually(t, "every feed record as an event", func() bool { return fmt.Sprint(byType()) == fmt.Sprint(want) })
	contact := emu.Inbound("+14155550101", "Is the sale still on?")
	want["message_received"]++
	eventually(t, "the new message", func() bool { return fmt.Sprint(byType()) == fmt.Sprint(want) })
	r := counter.reads.Load()
	eventually(t, "three more rounds", func() bool { return counter.reads.Load() >= r+12 })
	if got := byType(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after more rounds: %v, want %v", got, want)
	}
	evs := logged(t, a, "qyvo")
	i := slices.IndexFunc(evs, func(e events.Event) bool {
		return e.RecordID == contact && strings.Contains(string(e.Payload), "sale still on")
	})
	if i < 0 {
		t.Fatal("the new message is not an event about its contact")
	}
	var p map[string]string
	if e := evs[i]; e.RecordKind != "contact" || e.Type != "message_received" || json.Unmarshal(e.Payload, &p) != nil || p["phone"] != "+14155550101" {
		t.Fatalf("message event: %+v %s", e, e.Payload)
	}
	// Shutdown stops the poller: no read after it.
	stop()
	r = counter.reads.Load()
	time.Sleep(200 * time.Millisecond) // ten poll intervals
	if n := counter.reads.Load(); n != r {
		t.Fatalf("%d feed reads after shutdown", n-r)
	}
}

func TestPollEveryKeepsToTheShare(t *testing.T) {
	for _, c := range []struct {
		rate  int
		share float64
		want  time.Duration
	}{
		{60, 0.1, 10 * time.Second}, // Qyvo's default: 6 of 60 requests a minute
		{600, 0.1, time.Second},
		{60, 0.5, 2 * time.Second},
		{6000, 1, time.Second}, // never more often than minPollEvery
		{1, 0.01, 100 * time.Minute},
	} {
		if got := pollEvery(c.rate, c.share); got != c.want {
			t.Errorf("pollEvery(%d, %g) = %s, want %s", c.rate, c.share, got, c.want)
		}
	}
}

func TestEventStoreChoice(t *testing.T) {
	dir := t.TempDir()
	url := redistest.URL(t)
	vivreKV := []string{"VIVRE_API_KEY", "vv_k", "VIVRE_WORKSPACE_ID", "ws_1"}
	for _, c := range []struct {
		kv   []string
		want string
	}{
		{[]string{"CRM_MCP_SANDBOX", "true", "VIVRE_WEBHOOK_SECRET", "s"}, "memory"},
		{vivreKV, "memory"}, // http, but nothing produces events
		{append([]string{"VIVRE_WEBHOOK_SECRET", "s", "CRM_MCP_DATA_DIR", dir}, vivreKV...), "disk"},
		{[]string{"QYVO_API_TOKEN", "q", "QYVO_BASE_URL", "http://127.0.0.1:1", "CRM_MCP_DATA_DIR", dir + "/q"}, "disk"},
		{[]string{"CRM_MCP_SANDBOX", "true", "REDIS_URL", url}, "redis"},
		{append([]string{"REDIS_URL", url, "CRM_MCP_EVENTS_STORE", "memory"}, vivreKV...), "memory"},
		{[]string{"CRM_MCP_SANDBOX", "true", "CRM_MCP_EVENTS_STORE", "DISK", "CRM_MCP_DATA_DIR", dir + "/s"}, "disk"},
	} {
		a, _, stop := startEvents(t, nil, c.kv...)
		if a.events.store != c.want {
			t.Errorf("%v: store %s, want %s", c.kv, a.events.store, c.want)
		}
		stop()
	}
}

func TestEventSettingsAreChecked(t *testing.T) {
	notDir := t.TempDir() + "/file"
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kv   []string
		want string
	}{
		{[]string{"CRM_MCP_EVENTS_MAX", "0"}, "CRM_MCP_EVENTS_MAX"},
		{[]string{"CRM_MCP_EVENTS_MAX_AGE", "0s"}, "CRM_MCP_EVENTS_MAX_AGE"},
		{[]string{"CRM_MCP_QYVO_POLL_SHARE", "1.5"}, "CRM_MCP_QYVO_POLL_SHARE"},
		{[]string{"CRM_MCP_QYVO_POLL_SHARE", "-0.1"}, "CRM_MCP_QYVO_POLL_SHARE"},
		{[]string{"CRM_MCP_EVENTS_STORE", "redis"}, "REDIS_URL"},
		{[]string{"CRM_MCP_EVENTS_STORE", "s3"}, "CRM_MCP_EVENTS_STORE"},
		{[]string{"CRM_MCP_EVENTS_STORE", "disk", "CRM_MCP_DATA_DIR", notDir}, "CRM_MCP_DATA_DIR"},
	} {
		code, stderr := start(t, []string{"--sandbox"}, c.kv...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr:\n%s", c.kv, code, stderr)
		}
	}
}
