package vendors

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
)

// Redactor masks credentials in everything the server writes: log lines,
// tool results, errors. The app owns one, holding the keys it read from its
// environment; those are never evicted. A request that brings its own
// vendor keys gets a child (With) that masks them in that request's output
// only: nothing a caller sends is added to what other callers' output is
// checked against, so no caller can switch redaction off by flooding it or
// turn it on words of its choice.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string
	repl    *strings.Replacer
}

// MinSecret is the shortest value masked: shorter ones would blank out
// ordinary words, and no vendor issues keys that short.
const MinSecret = 8

const mask = "[redacted]"

// NewRedactor returns a Redactor masking secrets.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add masks secrets from now on, for the life of r. Only the app adds, at
// start-up, with values it was configured with.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) >= MinSecret && !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
			changed = true
		}
	}
	if changed {
		r.repl = replacer(r.secrets)
	}
}

// With returns a Redactor that masks r's secrets and extra: the view of one
// request that carries its own keys. r is not changed.
func (r *Redactor) With(extra ...string) *Redactor {
	if r == nil {
		r = &Redactor{}
	}
	r.mu.RLock()
	c := &Redactor{secrets: slices.Clone(r.secrets)}
	r.mu.RUnlock()
	c.Add(extra...)
	return c
}

// replacer masks the longest secret first, so a key that contains another
// is masked whole.
func replacer(secrets []string) *strings.Replacer {
	s := slices.Clone(secrets)
	slices.SortFunc(s, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(s))
	for _, v := range s {
		pairs = append(pairs, v, mask)
	}
	return strings.NewReplacer(pairs...)
}

// Redact returns s with every secret replaced by [redacted].
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	repl := r.repl
	r.mu.RUnlock()
	if repl == nil {
		return s
	}
	return repl.Replace(s)
}

// Contains reports whether b holds any secret: the cheap test that lets a
// clean result go out untouched.
func (r *Redactor) Contains(b []byte) bool {
	if r == nil {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, s := range r.secrets {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

type redactorKey struct{}

// WithRedactor makes r the redactor of everything done with ctx.
func WithRedactor(ctx context.Context, r *Redactor) context.Context {
	return context.WithValue(ctx, redactorKey{}, r)
}

// RedactorFrom is ctx's redactor, or nil (which masks nothing).
func RedactorFrom(ctx context.Context) *Redactor {
	r, _ := ctx.Value(redactorKey{}).(*Redactor)
	return r
}
