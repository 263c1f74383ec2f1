package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// Vendor is what makes a Kit one vendor's API: how Hits names a request,
// the envelope of an injected failure, the vendor's front door (its
// credentials, then its own rate limits) and how its handlers answer a body
// that does not decode. Every answer is the vendor's: the kit only decides
// when one is due.
type Vendor struct {
	// Route names a request for Hits (nil: Route, the id segment generalised).
	Route func(*http.Request) string
	// ErrBody renders the vendor's error envelope for an injected status.
	ErrBody func(status int) string

	// Authorized reports whether a request carries the vendor's
	// credentials; Unauthorized answers one that does not (the vendor's 401).
	Authorized   func(*http.Request) bool
	Unauthorized func(w http.ResponseWriter)

	// Limits are the vendor's own windows (period -> requests) for the one
	// caller the emulator accepts, kept as an exact sliding log; none: no
	// limit. Throttled answers a request over any of them (the vendor's
	// 429); Retry-After, in whole seconds, is already set.
	Limits    map[time.Duration]int
	Throttled func(w http.ResponseWriter, retryAfter int)

	// BadBody answers a request whose JSON body Decode cannot read: the
	// vendor's 400, or its 422 when WrongType names the field.
	BadBody func(w http.ResponseWriter, err error)
	// EmptyBody reads a request with no body at all as one with no input
	// (Laravel's way) instead of handing it to BadBody.
	EmptyBody bool
}

// Handle makes routes the emulator's handler (the Kit's ServeHTTP), behind
// the kit (latency, hit counts and faults: see Serve) and the vendor's front
// door, in that order. Call it once, before the emulator serves.
func (k *Kit) Handle(v Vendor, routes http.Handler) {
	route := v.Route
	if route == nil {
		route = Route
	}
	k.vendor = v
	k.handler = k.Serve(route, v.ErrBody, k.guard(v, routes))
}

// ServeHTTP implements http.Handler once Handle has given the Kit its routes.
func (k *Kit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if k.handler == nil {
		panic("emulator: Kit.Handle was not called")
	}
	k.handler.ServeHTTP(w, r)
}

// guard checks the credentials, then the limits: a request with a bad key
// is refused without counting against them.
func (k *Kit) guard(v Vendor, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !v.Authorized(r) {
			v.Unauthorized(w)
			return
		}
		if len(v.Limits) > 0 {
			if limited, after := k.Limited("caller", v.Limits); limited {
				w.Header().Set("Retry-After", strconv.Itoa(after))
				v.Throttled(w, after)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// PerMinute is the one window of a vendor limited to n requests a minute:
// none when n is 0 or negative.
func PerMinute(n int) map[time.Duration]int {
	if n <= 0 {
		return nil
	}
	return map[time.Duration]int{time.Minute: n}
}

// Decode reads r's JSON body into v and reports whether the handler should
// go on; when it should not, the vendor's BadBody has answered.
func (k *Kit) Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(r.Body).Decode(v)
	switch {
	case err == nil, k.vendor.EmptyBody && errors.Is(err, io.EOF):
		return true
	case k.vendor.BadBody != nil:
		k.vendor.BadBody(w, err)
	default:
		JSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
	return false
}

// WrongType is err's value of the wrong type for a named field (Field is
// its dotted JSON path, Value the JSON kind given), or nil when err is not
// one: a body that is not JSON at all, or a wrong top-level value.
func WrongType(err error) *json.UnmarshalTypeError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te
	}
	return nil
}

// ExactRoute names a request for Hits by its path as sent, for vendors
// whose paths carry no ids: "GET /contacts", "POST /actions/add-tag".
func ExactRoute(r *http.Request) string { return r.Method + " " + r.URL.Path }

// Find is the first item match accepts, or nil.
func Find[T any](items []*T, match func(*T) bool) *T {
	for _, it := range items {
		if match(it) {
			return it
		}
	}
	return nil
}

// ValidEmail reports whether s is a bare address with a dotted domain, as
// the vendors validate one: "ada@example.com", not "Ada <ada@example.com>"
// nor "ada@localhost".
func ValidEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndex(s, "@"):], ".")
}

// Now is the time a vendor stamps on a record: UTC, whole seconds.
func Now() time.Time { return time.Now().UTC().Truncate(time.Second) }
