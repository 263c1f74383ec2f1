package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// A narrowing header the server does not understand is an error, never
// "no narrowing": X-MCP-Read-Only: yes once left every write tool on.
func TestUnknownNarrowingHeadersAre400(t *testing.T) {
	base := startHTTP(t)
	for _, c := range []struct {
		header, value string
		want          int
		says          []string
	}{
		{"X-MCP-Read-Only", "yes", 400, []string{"X-MCP-Read-Only", "true, false, 1 or 0", `"yes"`}},
		{"X-MCP-Read-Only", "on", 400, []string{"X-MCP-Read-Only"}},
		{"X-MCP-Read-Only", "t", 400, []string{"X-MCP-Read-Only"}},
		{"X-MCP-Toolsets", "vivre,nosuch", 400, []string{"X-MCP-Toolsets", `"nosuch"`, "crm", "vivre"}},
		{"X-MCP-Read-Only", "TRUE", 200, nil},
		{"X-MCP-Read-Only", "0", 200, nil},
		{"X-MCP-Toolsets", "Vivre, crm", 200, nil},
	} {
		for _, path := range []string{"/mcp", "/message?sessionId=x"} {
			resp, body := postMCP(t, base+path, initMessage(1), http.Header{c.header: {c.value}})
			if path != "/mcp" && c.want != 400 {
				continue // no such session: only the 400 is of interest
			}
			if resp.StatusCode != c.want {
				t.Errorf("POST %s with %s: %s: %d, want %d (%s)", path, c.header, c.value, resp.StatusCode, c.want, body)
			}
			for _, s := range c.says {
				if !strings.Contains(string(body), s) {
					t.Errorf("POST %s with %s: %s: the error does not say %s: %s", path, c.header, c.value, s, body)
				}
			}
		}
	}
}

// Every case of true means read-only, not only those strconv.ParseBool knows.
func TestReadOnlyHeaderInAnyCase(t *testing.T) {
	base := startHTTP(t)
	for _, v := range []string{"true", "TRUE", "tRuE", "1"} {
		names := toolNames(t, mcpClient(t, base, map[string]string{"X-MCP-Read-Only": v}))
		if slices.Contains(names, "vivre_create_contact") || !slices.Contains(names, "vivre_get_contact") {
			t.Errorf("X-MCP-Read-Only: %s lists %d tools, write tools included: %v", v, len(names), slices.Contains(names, "vivre_create_contact"))
		}
	}
}

// A narrowing header sent twice is refused: the filters read one value,
// and "X-MCP-Read-Only: false" then "true" (a gateway appending read-only)
// listed every write tool.
func TestRepeatedNarrowingHeadersAre400(t *testing.T) {
	base := startHTTP(t)
	for header, values := range map[string][]string{
		"X-MCP-Read-Only": {"false", "true"},
		"X-MCP-Toolsets":  {"qyvo", "vivre"},
	} {
		resp, body := postMCP(t, base+"/mcp", initMessage(1), http.Header{header: values})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), header) || !strings.Contains(string(body), "once") {
			t.Errorf("%s sent twice: %d %s, want 400 naming the header and asking for it once", header, resp.StatusCode, body)
		}
	}
}
