package vendors

import (
	"encoding/base64"
	"strconv"
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
		return "", Invalid(vendor, "cursor", badCursor)
	}
	v, ok := strings.CutPrefix(string(raw), scheme+":")
	if !ok || v == "" {
		return "", Invalid(vendor, "cursor", badCursor)
	}
	return v, nil
}

// OffsetCursor is the cursor of the page that starts at offset.
func OffsetCursor(offset int) string { return Cursor("o", strconv.Itoa(offset)) }

// ParseOffsetCursor returns the offset inside c (0 for an empty cursor).
func ParseOffsetCursor(vendor, c string) (int, error) {
	v, err := ParseCursor(vendor, "o", c)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, Invalid(vendor, "cursor", badCursor)
	}
	return n, nil
}

// NextOffset is next_cursor for an offset-paged list: empty at the end.
// total < 0 means the vendor did not say; a short page then marks the end.
func NextOffset(offset, got, limit, total int) string {
	next := offset + got
	if got == 0 || (total >= 0 && next >= total) || (total < 0 && got < limit) {
		return ""
	}
	return OffsetCursor(next)
}
