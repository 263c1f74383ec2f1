package events

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
)

// TrimmedMax is the most bytes Trim returns.
const TrimmedMax = 4 << 10

// Trim bounds a vendor's payload for the log, which agents read in full: it
// keeps the shape and cuts what is long (strings to 500 characters, arrays
// to 20 items, objects to 40 keys, 3 levels deep), tighter again until the
// result fits in TrimmedMax bytes; a payload that cannot fit even as its
// top-level scalars becomes {"truncated": true}. A cut string ends in "…".
// Invalid JSON or JSON null gives nil.
func Trim(raw []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || v == nil || dec.More() {
		return nil
	}
	for _, b := range []bounds{{500, 20, 40, 3}, {200, 10, 30, 2}, {100, 5, 20, 1}, {100, 0, 20, 0}} {
		s := b.shrink(v, 0)
		if s == nil {
			continue
		}
		if out := encode(s); out != nil && len(out) <= TrimmedMax {
			return out
		}
	}
	return json.RawMessage(`{"truncated":true}`)
}

type bounds struct{ str, arr, keys, depth int }

// shrink copies v within b; containers below b.depth are dropped (nil).
func (b bounds) shrink(v any, depth int) any {
	switch x := v.(type) {
	case string:
		if r := []rune(x); len(r) > b.str {
			return string(r[:b.str]) + "…"
		}
		return x
	case []any:
		if depth >= b.depth {
			return nil
		}
		out := make([]any, 0, min(len(x), b.arr))
		for _, it := range x[:min(len(x), b.arr)] {
			if s := b.shrink(it, depth+1); s != nil {
				out = append(out, s)
			}
		}
		return out
	case map[string]any:
		if depth > b.depth {
			return nil
		}
		out := map[string]any{}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if len(out) == b.keys {
				break
			}
			s := b.shrink(x[k], depth+1)
			if s == nil && x[k] != nil {
				continue // a container too deep to keep
			}
			out[k] = s
		}
		return out
	}
	return v
}

func encode(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return nil
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n"))
}
