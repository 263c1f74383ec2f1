package vendors

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Every credential a client is built with is registered here, and every
// log line and every tool error passes through Redact: the one place that
// keeps secrets out of output, whatever a vendor echoes back.

var (
	secretsMu sync.Mutex
	secrets   = map[string]bool{}
	replacer  atomic.Pointer[strings.Replacer]
)

// minSecret is the shortest value treated as a secret (shorter ones would
// blank out ordinary words).
const minSecret = 8

// RegisterSecret adds s to the values Redact hides.
func RegisterSecret(s string) {
	s = strings.TrimSpace(s)
	if len(s) < minSecret {
		return
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	if secrets[s] {
		return
	}
	if len(secrets) >= 10_000 { // bounded: a flood of tenant keys cannot grow it forever
		secrets = map[string]bool{}
	}
	secrets[s] = true
	pairs := make([]string, 0, 2*len(secrets))
	for k := range secrets {
		pairs = append(pairs, k, "[redacted]")
	}
	replacer.Store(strings.NewReplacer(pairs...))
}

// Redact returns s with every registered secret replaced.
func Redact(s string) string {
	r := replacer.Load()
	if r == nil {
		return s
	}
	return r.Replace(s)
}
