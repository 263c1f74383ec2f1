package main

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crm-mcp/crm-mcp/tools"
)

// checkNarrowing refuses X-MCP-Read-Only and X-MCP-Toolsets values it does
// not understand, and either header sent twice, with a 400, instead of letting the tool filter read them
// as "no narrowing": a caller asking for read-only must never get writes.
// It rewrites X-MCP-Read-Only to lower case, the spelling toolFilter's
// strconv.ParseBool accepts for every case of true and false.
func (a *app) checkNarrowing(next http.Handler) http.Handler {
	valid := []string{"crm"}
	for name := range a.vendorByName {
		valid = append(valid, name)
	}
	slices.Sort(valid)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const ro, ts = "X-MCP-Read-Only", "X-MCP-Toolsets"
		// The filters read one value; a second could contradict the first
		// (a gateway appending "true" to a caller's "false").
		for _, h := range []string{ro, ts} {
			if len(r.Header.Values(h)) > 1 {
				http.Error(w, "bad request: send "+h+" once (it was sent "+strconv.Itoa(len(r.Header.Values(h)))+" times)", http.StatusBadRequest)
				return
			}
		}
		if vs := r.Header.Values(ro); len(vs) > 0 {
			lower := make([]string, len(vs))
			for i, v := range vs {
				switch lower[i] = strings.ToLower(v); lower[i] {
				case "true", "false", "1", "0":
				default:
					http.Error(w, "bad request: "+ro+" must be true, false, 1 or 0 (any case), not "+tools.QuoteValue(v), http.StatusBadRequest)
					return
				}
			}
			r.Header[http.CanonicalHeaderKey(ro)] = lower
		}
		for _, v := range r.Header.Values(ts) {
			for _, name := range splitList(v) {
				if !slices.Contains(valid, name) {
					http.Error(w, "bad request: "+ts+" names unknown toolset "+tools.QuoteValue(name)+"; valid toolsets: "+strings.Join(valid, ", "), http.StatusBadRequest)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
