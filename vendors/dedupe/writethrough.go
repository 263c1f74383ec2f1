package dedupe

import (
	"context"
	"time"
)

// WriteThrough keeps every record in process as well as in a shared store
// (Redis): if the shared store loses a record (it died mid-call, or
// restarted empty), this process still recognises the repeat. A failure of
// the shared store to take a claim fails the call (nothing is sent); a
// failure to record a result is returned to the caller to report, with the
// result kept in process.
type WriteThrough struct {
	local  *Memory
	shared Store
}

// NewWriteThrough layers an in-process store over shared.
func NewWriteThrough(shared Store) *WriteThrough {
	return &WriteThrough{local: NewMemory(), shared: shared}
}

// Claim implements Store: a record this process holds answers first, and
// the shared store is asked only by a call that holds the key here.
func (w *WriteThrough) Claim(ctx context.Context, key string, ttl time.Duration) (bool, []byte, error) {
	if ok, prior, _ := w.local.Claim(ctx, key, ttl); !ok {
		return false, prior, nil
	}
	claimed, result, err := w.shared.Claim(ctx, key, ttl)
	if err != nil || !claimed {
		_ = w.local.Release(ctx, key)
	}
	return claimed, result, err
}

// Complete implements Store: recorded here first, then shared.
func (w *WriteThrough) Complete(ctx context.Context, key string, result []byte, ttl time.Duration) error {
	_ = w.local.Complete(ctx, key, result, ttl)
	return w.shared.Complete(ctx, key, result, ttl)
}

// Release implements Store.
func (w *WriteThrough) Release(ctx context.Context, key string) error {
	_ = w.local.Release(ctx, key)
	return w.shared.Release(ctx, key)
}

// Result implements Store: this process's record first.
func (w *WriteThrough) Result(ctx context.Context, key string) ([]byte, error) {
	if r, _ := w.local.Result(ctx, key); r != nil {
		return r, nil
	}
	return w.shared.Result(ctx, key)
}
