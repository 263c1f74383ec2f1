// Package dedupe remembers the calls that reach a person or start an
// automation (WhatsApp sends, sequence and flow triggers), so that the same
// call made again within the window returns the first call's result instead
// of reaching the vendor a second time.
//
// A key is claimed before the vendor is called. A concurrent identical call
// finds the claim and waits for the first call's result. A call that failed
// before the vendor could act releases its claim; one whose outcome is
// unknown keeps it, so a blind retry cannot send twice.
package dedupe

import (
	"context"
	"sync"
	"time"
)

// Store holds claims and results. Implementations are safe for concurrent use.
type Store interface {
	// Claim takes key for ttl. If it was already taken it returns false and
	// the stored result (nil while the first call is still running).
	Claim(ctx context.Context, key string, ttl time.Duration) (claimed bool, result []byte, err error)
	// Complete stores the result of the call that holds key.
	Complete(ctx context.Context, key string, result []byte, ttl time.Duration) error
	// Release drops key: the call failed without reaching the vendor.
	Release(ctx context.Context, key string) error
	// Result is key's stored result, nil while none is (not claimed, or
	// the first call still running). It takes no claim.
	Result(ctx context.Context, key string) ([]byte, error)
}

// Memory is the in-process Store.
type Memory struct {
	mu      sync.Mutex
	entries map[string]entry
	now     func() time.Time
}

type entry struct {
	result  []byte
	expires time.Time
}

// NewMemory returns an empty in-process store.
func NewMemory() *Memory { return &Memory{entries: map[string]entry{}, now: time.Now} }

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, key string, ttl time.Duration) (bool, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if e, ok := m.entries[key]; ok && now.Before(e.expires) {
		return false, e.result, nil
	}
	if len(m.entries) > 4096 {
		for k, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, k)
			}
		}
	}
	m.entries[key] = entry{expires: now.Add(ttl)}
	return true, nil, nil
}

// Complete implements Store.
func (m *Memory) Complete(_ context.Context, key string, result []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[key] = entry{result: result, expires: m.now().Add(ttl)}
	return nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	return nil
}

// Result implements Store.
func (m *Memory) Result(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok && m.now().Before(e.expires) {
		return e.result, nil
	}
	return nil, nil
}
