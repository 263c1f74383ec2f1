package events_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/events"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
)

// BenchmarkAppend: appends per second straight into each log, 16
// concurrent writers (8 per core on 2 cores), every event distinct and with
// a dedupe key, as a webhook's would be.
//
//	go test ./vendors/events -run '^$' -bench Append -benchtime 3s
func BenchmarkAppend(b *testing.B) {
	for _, name := range []string{"memory", "disk", "redis"} {
		b.Run(name, func(b *testing.B) {
			var l events.Log
			o := events.Options{Max: 10_000_000}
			switch name {
			case "memory":
				l = events.NewMemory(o)
			case "disk":
				d, err := events.OpenDisk(b.TempDir(), o)
				if err != nil {
					b.Fatal(err)
				}
				l = d
			case "redis":
				l = events.NewRedis(redistest.Client(b), o)
			}
			defer l.Close()
			var seq atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					n := seq.Add(1)
					if _, err := l.Append(ctx, ev("vivre", "contact.updated", fmt.Sprint(n)), events.Key("vivre", fmt.Sprint("evt_", n))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
