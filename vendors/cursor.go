package vendors

import (
	"encoding/base64"
	"strings"
)

// Every list tool takes an opaque cursor and returns next_cursor, whatever
// the vendor's own scheme. A cursor is base64url("<scheme>:<value>") so that
// a cursor from one scheme (or a made-up one) is refused, by name, instead
// of silently restarting at the first page.

const badCursor = "not a cursor returned by this tool; omit it to start at the first page"

// Cursor wraps a vendor position (offset, page number or vendor cursor).
func Cursor(scheme, value string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(scheme + ":" + value))
}

// ParseCursor returns the vendor position inside c; "" for an empty cursor.
func ParseCursor(vendor, scheme, c string) (string, error) {
	if c == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", BadCursor(vendor)
	}
	v, ok := strings.CutPrefix(string(raw), scheme+":")
	if !ok || v == "" {
		return "", BadCursor(vendor)
	}
	return v, nil
}

// BadCursor is the one "not a cursor" error, for clients whose cursor
// parsed but held a value they cannot use.
func BadCursor(vendor string) *Error { return Invalid(vendor, "cursor", badCursor) }
