package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/events"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
)

// The webhook benchmarks of BENCHMARKS.md ("Vendor events"):
//
//	go test ./cmd/crm-mcp -run '^$' -bench 'Webhook' -benchtime 5s
//	go test ./cmd/crm-mcp -run '^$' -bench 'WebhookConcurrentDeliveries' -benchtime 1x
//
// Each delivery is a real POST over loopback HTTP with a signed Vivre body,
// through the guard and the receiver, into the store named.

// benchClient keeps up to conns connections per replica.
func benchClient(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}}
}

// post delivers one signed Vivre body: the status, 0 on a transport error.
func post(c *http.Client, base string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/vivre", bytes.NewReader(body))
	req.Header.Set("X-Vivre-Signature", sign(testSecret, body))
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// benchReplicas starts n replicas storing in store (redis: one shared
// Redis; disk: n must be 1), with a Vivre receiver and no Qyvo polling.
func benchReplicas(b *testing.B, store string, n int) ([]*app, []string) {
	b.Helper()
	kv := []string{"CRM_MCP_SANDBOX", "true", "VIVRE_WEBHOOK_SECRET", testSecret, "CRM_MCP_QYVO_POLL_SHARE", "0",
		"CRM_MCP_EVENTS_STORE", store, "CRM_MCP_DATA_DIR", b.TempDir(), "CRM_MCP_EVENTS_MAX", "10000000"}
	if store == "redis" {
		kv = append(kv, "REDIS_URL", redistest.URL(b))
	}
	apps, bases := make([]*app, n), make([]string, n)
	for i := range n {
		apps[i], bases[i], _ = startEvents(b, nil, kv...)
	}
	return apps, bases
}

// BenchmarkWebhookIngest: deliveries per second into one replica, 16
// concurrent senders (8 per core on 2 cores), every event distinct.
func BenchmarkWebhookIngest(b *testing.B) {
	for _, store := range []string{"redis", "disk", "memory"} {
		b.Run(store, func(b *testing.B) {
			apps, bases := benchReplicas(b, store, 1)
			a, base := apps[0], bases[0]
			c := benchClient(64)
			var seq atomic.Int64
			var failed atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("evt_ingest_%d", seq.Add(1))
					if post(c, base, vivreBody(id, "contact.updated", "cnt_"+id)) != 200 {
						failed.Add(1)
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			if failed.Load() > 0 {
				b.Fatalf("%d of %d deliveries not answered 200", failed.Load(), b.N)
			}
			if got := len(logged(b, a, "vivre")); got != b.N {
				b.Fatalf("%d events stored of %d delivered", got, b.N)
			}
		})
	}
}

// BenchmarkWebhookVisibleOnOtherReplica: from the start of a delivery to
// replica A until replica B, woken by its Notify, lists the event; one
// delivery at a time. Also the delivery's own round trip (ack). "busy":
// meanwhile 8 other senders deliver to A as fast as they can.
func BenchmarkWebhookVisibleOnOtherReplica(b *testing.B) {
	b.Run("idle", func(b *testing.B) { visibleOnOtherReplica(b, 0) })
	b.Run("busy", func(b *testing.B) { visibleOnOtherReplica(b, 8) })
}

func visibleOnOtherReplica(b *testing.B, senders int) {
	apps, bases := benchReplicas(b, "redis", 2)
	dst := apps[1]
	ch, cancel := dst.events.log.Notify()
	defer cancel()
	time.Sleep(100 * time.Millisecond) // the subscription
	c := benchClient(4)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var background atomic.Int64
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bc := benchClient(1)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("evt_bg_%d_%d", s, i)
				if post(bc, bases[0], vivreBody(id, "contact.updated", "cnt_"+id)) == 200 {
					background.Add(1)
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	cursor := ""
	visible := make([]time.Duration, 0, b.N)
	acked := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("evt_vis_%d", i)
		t0 := time.Now()
		if code := post(c, bases[0], vivreBody(id, "deal.won", "dl_"+id)); code != 200 {
			b.Fatalf("delivery %d: %d", i, code)
		}
		acked = append(acked, time.Since(t0))
		for found := false; !found; {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				b.Fatalf("event %d: no notification in 10 s", i)
			}
			evs, next, err := dst.events.log.List(ctx, events.Query{After: cursor, Vendor: "vivre", Types: []string{"deal.won"}, Limit: events.MaxLimit})
			if err != nil {
				b.Fatal(err)
			}
			cursor = next
			found = slices.ContainsFunc(evs, func(e events.Event) bool { return e.RecordID == "dl_"+id })
		}
		visible = append(visible, time.Since(t0))
	}
	b.StopTimer()
	if senders > 0 {
		b.ReportMetric(float64(background.Load())/b.Elapsed().Seconds(), "background-events/s")
	}
	for name, d := range map[string][]time.Duration{"visible": visible, "ack": acked} {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, name+"-p99-ms")
		b.ReportMetric(float64(d[len(d)-1].Microseconds())/1000, name+"-max-ms")
	}
}

// BenchmarkWebhookConcurrentDeliveries: 10,000 deliveries at once (8,000
// events, 2,000 of them sent twice, in random order), to two replicas on
// one Redis (alternately) or to one on disk. A delivery not answered 200
// is sent again, as a vendor would, up to 5 times. Every event must be
// stored exactly once: lost and duplicated are reported and must be 0.
// Bounded: 256 connections per replica, 30 s per request.
func BenchmarkWebhookConcurrentDeliveries(b *testing.B) {
	const deliveries, distinct = 10000, 8000
	for _, c := range []struct {
		name     string
		store    string
		replicas int
	}{{"redis-2-replicas", "redis", 2}, {"disk", "disk", 1}} {
		b.Run(c.name, func(b *testing.B) {
			apps, bases := benchReplicas(b, c.store, c.replicas)
			client := benchClient(256)
			var lost, dup, resent, seconds float64
			for it := range b.N {
				order := make([]int, deliveries)
				for i := range order {
					order[i] = i % distinct // 0..7999, then 0..1999 again
				}
				rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				var wg sync.WaitGroup
				var failed, retries atomic.Int64
				start := time.Now()
				for i, n := range order {
					wg.Add(1)
					go func() {
						defer wg.Done()
						id := fmt.Sprintf("evt_c%d_%d", it, n)
						body := vivreBody(id, "contact.updated", "cnt_"+id)
						for try := range 5 {
							if try > 0 {
								retries.Add(1)
							}
							if post(client, bases[(i+try)%len(bases)], body) == 200 {
								return
							}
						}
						failed.Add(1)
					}()
				}
				wg.Wait()
				seconds += time.Since(start).Seconds()
				b.StopTimer()
				stored := map[string]int{}
				for _, e := range logged(b, apps[len(apps)-1], "vivre") {
					stored[e.RecordID]++
				}
				for n := range distinct {
					switch k := stored[fmt.Sprintf("cnt_evt_c%d_%d", it, n)]; {
					case k == 0:
						lost++
					case k > 1:
						dup += float64(k - 1)
					}
				}
				resent += float64(retries.Load())
				if failed.Load() > 0 {
					b.Errorf("%d deliveries never answered 200", failed.Load())
				}
				b.StartTimer()
			}
			b.ReportMetric(lost, "lost")
			b.ReportMetric(dup, "duplicated")
			b.ReportMetric(resent, "resent")
			b.ReportMetric(float64(deliveries*b.N)/seconds, "deliveries/s")
			if lost > 0 || dup > 0 {
				b.Fatalf("lost %v, duplicated %v", lost, dup)
			}
		})
	}
}
