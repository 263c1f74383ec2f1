package vendors

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Kind says what an agent should do about an Error.
type Kind string

// The kinds of vendor failure. Each maps to one piece of advice.
const (
	KindInvalid     Kind = "invalid_argument" // fix the named field and call again
	KindAuth        Kind = "unauthorized"     // the credentials are wrong or lack permission
	KindNotFound    Kind = "not_found"        // the id does not exist
	KindConflict    Kind = "conflict"         // the request clashes with the record's state
	KindRateLimited Kind = "rate_limited"     // retry after RetryAfter
	KindUnavailable Kind = "unavailable"      // the vendor failed; safe to retry later
	KindUncertain   Kind = "outcome_unknown"  // a write may or may not have been applied
	KindTimeout     Kind = "timeout"          // the call's deadline passed
	KindProtocol    Kind = "bad_response"     // the vendor answered something unreadable
	KindCancelled   Kind = "cancelled"        // the caller cancelled the call
	// KindMisconfigured: the server's settings are wrong for this vendor
	// (e.g. a base URL that redirects); retrying will not help.
	KindMisconfigured Kind = "misconfigured"
)

// Error is the one error type of every vendor call: what failed, what the
// vendor said, which fields were wrong and when a retry may succeed.
type Error struct {
	Vendor     string
	Kind       Kind
	Status     int               // HTTP status, 0 when none was received
	Code       string            // the vendor's own error code, if any
	Message    string            // the vendor's (or our) human message
	Fields     map[string]string // argument name (snake_case) -> what is wrong
	RetryAfter time.Duration     // when a retry may succeed, 0 if unknown
	Attempts   int               // requests sent for this call
	Err        error             // the underlying transport or decode error
}

// Invalid builds a KindInvalid error for one argument.
func Invalid(vendor, field, problem string) *Error {
	return &Error{Vendor: vendor, Kind: KindInvalid, Fields: map[string]string{field: problem}}
}

// Error is written for the model that reads it: what happened, then what to do.
func (e *Error) Error() string {
	var b strings.Builder
	who := e.Vendor
	if who == "" {
		who = "the vendor"
	}
	switch e.Kind {
	case KindInvalid:
		if e.Status == 0 {
			b.WriteString("invalid arguments")
		} else {
			fmt.Fprintf(&b, "%s rejected the request", who)
		}
	case KindAuth:
		fmt.Fprintf(&b, "%s refused the credentials", who)
	case KindNotFound:
		fmt.Fprintf(&b, "%s found no such record", who)
	case KindConflict:
		fmt.Fprintf(&b, "%s refused the change", who)
	case KindRateLimited:
		fmt.Fprintf(&b, "%s rate limit reached", who)
	case KindUnavailable:
		fmt.Fprintf(&b, "%s is unavailable", who)
	case KindUncertain:
		fmt.Fprintf(&b, "%s failed while handling a change", who)
	case KindTimeout:
		fmt.Fprintf(&b, "the call to %s ran out of time", who)
	case KindProtocol:
		fmt.Fprintf(&b, "%s sent a response that could not be read", who)
	case KindCancelled:
		fmt.Fprintf(&b, "the call to %s was cancelled", who)
	case KindMisconfigured:
		fmt.Fprintf(&b, "%s cannot be reached as configured", who)
	default:
		fmt.Fprintf(&b, "%s call failed", who)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.Status)
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", e.Code)
		}
		b.WriteString(")")
	}
	if len(e.Fields) > 0 {
		b.WriteString(": ")
		for i, k := range slices.Sorted(maps.Keys(e.Fields)) {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %s", k, e.Fields[k])
		}
	} else if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	b.WriteString(". ")
	b.WriteString(e.Advice())
	return b.String()
}

// Advice is the sentence that tells the agent its next step.
func (e *Error) Advice() string {
	switch e.Kind {
	case KindInvalid:
		if len(e.Fields) == 0 {
			return "Change the request as the message says and call again."
		}
		return "Correct " + strings.Join(slices.Sorted(maps.Keys(e.Fields)), ", ") + " and call again."
	case KindAuth:
		return "The API key or workspace is wrong or lacks permission; retrying will not help until the credentials are fixed."
	case KindNotFound:
		return "Check the id, for example with a list or search tool."
	case KindConflict:
		return "Read the record again and adjust the request."
	case KindRateLimited, KindUnavailable:
		if e.RetryAfter > 0 {
			return fmt.Sprintf("Retry after %d seconds.", e.RetrySeconds())
		}
		return "Retry in a little while."
	case KindUncertain:
		return "It was not re-sent, because it may already have been applied: check the record (list or get) before calling again."
	case KindTimeout:
		return "Retry later or ask for less (a smaller limit)."
	case KindCancelled:
		return "Nothing more will be done for it."
	case KindMisconfigured:
		return "Retrying will not help until the server's operator fixes the setting named above."
	case KindProtocol:
		return "Retry later; if it persists, the vendor's API may have changed: report it."
	default:
		return "Retry later; if it persists, report it."
	}
}

// RetrySeconds is RetryAfter rounded up to whole seconds (at least 1).
func (e *Error) RetrySeconds() int {
	if e.RetryAfter <= 0 {
		return 0
	}
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether sending the same call again later can succeed.
func (e *Error) Retryable() bool {
	return e.Kind == KindRateLimited || e.Kind == KindUnavailable || e.Kind == KindTimeout
}

// AsError returns err as an *Error when it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// kindForStatus maps an HTTP status to what the agent should do about it.
func kindForStatus(status int) Kind {
	switch {
	case status == 400 || status == 422:
		return KindInvalid
	case status == 401 || status == 403:
		return KindAuth
	case status == 404 || status == 410:
		return KindNotFound
	case status == 409:
		return KindConflict
	case status == 429:
		return KindRateLimited
	case status == 408 || status >= 500:
		return KindUnavailable
	default:
		return KindInvalid
	}
}

// NotApplied reports whether the vendor certainly did not act on the
// request: it refused it, was never reached, or the call ended before it
// was sent. Anything else (outcome_unknown, bad_response) may have been
// applied, so the duplicate-send guard keeps its record.
func (e *Error) NotApplied() bool {
	switch e.Kind {
	case KindInvalid, KindAuth, KindNotFound, KindConflict, KindRateLimited, KindUnavailable, KindTimeout, KindCancelled, KindMisconfigured:
		return true
	}
	return false
}
