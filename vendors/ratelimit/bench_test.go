package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
)

// Benchmarks of the limiter on a tool call's path. "Under" is a busy key
// that never reaches its limit (every Reserve grants at once); "At" is a
// key at its limit (every Reserve is refused with a DelayError). The
// windows are Vixiees' four (2 s, minute, hour, day), the most a credential
// has. See BENCHMARKS.md.

var (
	under = []ratelimit.Window{{Limit: 1 << 30, Period: 2 * time.Second}, {Limit: 1 << 30, Period: time.Minute},
		{Limit: 1 << 30, Period: time.Hour}, {Limit: 1 << 30, Period: 24 * time.Hour}}
	at = []ratelimit.Window{{Limit: 40, Period: 2 * time.Second}, {Limit: 25, Period: time.Minute},
		{Limit: 1500, Period: time.Hour}, {Limit: 36000, Period: 24 * time.Hour}}
)

func reserveLoop(b *testing.B, l ratelimit.Limiter, windows []ratelimit.Window, wantDelay bool) {
	ctx := context.Background()
	for range 100 { // fill the key
		_, _ = l.Reserve(ctx, "bench", windows, 0)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, err := l.Reserve(ctx, "bench", windows, 0)
		var de *ratelimit.DelayError
		if wantDelay != errors.As(err, &de) {
			b.Fatalf("err = %v", err)
		}
	}
}

func BenchmarkMemoryReserveUnder(b *testing.B) { reserveLoop(b, ratelimit.NewMemory(), under, false) }
func BenchmarkMemoryReserveAt(b *testing.B)    { reserveLoop(b, ratelimit.NewMemory(), at, true) }

// Many goroutines, one key per goroutine-shard of 8 credentials: the one
// mutex of Memory under contention.
func BenchmarkMemoryReserveUnderParallel(b *testing.B) {
	m := ratelimit.NewMemory()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		i := 0
		for pb.Next() {
			i++
			if _, err := m.Reserve(ctx, fmt.Sprint("k", i%8), under, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRedisReserveUnder(b *testing.B) {
	reserveLoop(b, ratelimit.NewRedis(redistest.Client(b)), under, false)
}

func BenchmarkRedisReserveAt(b *testing.B) {
	reserveLoop(b, ratelimit.NewRedis(redistest.Client(b)), at, true)
}
