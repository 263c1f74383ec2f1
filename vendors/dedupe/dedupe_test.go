package dedupe_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
)

// Both stores keep the same contract.
func stores(t *testing.T) map[string]dedupe.Store {
	return map[string]dedupe.Store{"memory": dedupe.NewMemory(), "redis": dedupe.NewRedis(redistest.Client(t)),
		"write-through": dedupe.NewWriteThrough(dedupe.NewRedis(redistest.Client(t)))}
}

func TestStoreContract(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if r, err := s.Result(ctx, "a"); r != nil || err != nil {
				t.Fatalf("result before any claim: %q %v", r, err)
			}
			ok, prior, err := s.Claim(ctx, "a", time.Minute)
			if !ok || prior != nil || err != nil {
				t.Fatalf("first claim: %v %q %v", ok, prior, err)
			}
			if r, err := s.Result(ctx, "a"); r != nil || err != nil {
				t.Fatalf("result while in flight: %q %v", r, err)
			}
			ok, prior, _ = s.Claim(ctx, "a", time.Minute)
			if ok || prior != nil {
				t.Fatalf("claim while in flight: %v %q", ok, prior)
			}
			_ = s.Complete(ctx, "a", []byte(`{"sent":1}`), time.Minute)
			if r, err := s.Result(ctx, "a"); string(r) != `{"sent":1}` || err != nil {
				t.Fatalf("result after complete: %q %v", r, err)
			}
			ok, prior, _ = s.Claim(ctx, "a", time.Minute)
			if ok || string(prior) != `{"sent":1}` {
				t.Fatalf("claim after complete: %v %q", ok, prior)
			}
			_ = s.Release(ctx, "a")
			if ok, _, _ = s.Claim(ctx, "a", time.Minute); !ok {
				t.Fatal("claim after release failed")
			}
		})
	}
}

func TestOneWinnerUnderRace(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if ok, _, err := s.Claim(ctx, "race", time.Minute); ok && err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if wins != 1 {
				t.Fatalf("%d callers claimed the same key", wins)
			}
		})
	}
}

func TestClaimExpires(t *testing.T) {
	s := dedupe.NewRedis(redistest.Client(t))
	ctx := context.Background()
	_, _, _ = s.Claim(ctx, "k", 50*time.Millisecond)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if ok, _, _ := s.Claim(ctx, "k", time.Minute); ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("claim never expired")
}
