package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crm-mcp/crm-mcp/tools"
)

// Every env var the binary reads is documented in the README.
func TestReadmeDocumentsEveryEnvVar(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := tools.EnvNames(reflect.TypeOf(Config{}))
	for _, v := range tools.Vendors() {
		names = append(names, v.EnvVars()...)
	}
	for _, n := range names {
		if !strings.Contains(string(readme), "`"+n+"`") {
			t.Errorf("README does not document %s", n)
		}
	}
}

// mcp.json is valid, its stdio entries parse as our flags and its env vars exist.
func TestMCPJSONIsInStep(t *testing.T) {
	servers := readMCPJSON(t)
	known := map[string]bool{}
	for _, n := range tools.EnvNames(reflect.TypeOf(Config{})) {
		known[n] = true
	}
	for _, v := range tools.Vendors() {
		for _, n := range v.EnvVars() {
			known[n] = true
		}
	}
	if len(servers) < 2 {
		t.Fatal("mcp.json needs a sandbox and a real-key entry")
	}
	for name, s := range servers {
		if s.Command != "crm-mcp" && !(filepath.IsAbs(s.Command) && filepath.Base(s.Command) == "crm-mcp") {
			t.Errorf("%s: command %q", name, s.Command)
		}
		c, _ := testConfig(t)
		if _, err := parseFlags(&c, s.Args, os.Stderr); err != nil {
			t.Errorf("%s: args %v: %v", name, s.Args, err)
		}
		for k := range s.Env {
			if !known[k] {
				t.Errorf("%s: unknown env var %s", name, k)
			}
		}
	}
}

// stdioEntry is a server in claude_desktop_config.json: Claude Desktop
// starts local servers only, as {command, args, env}; remote servers are
// added in its settings, not in that file.
type stdioEntry struct {
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env"`
}

// readMCPJSON reads mcp.json strictly as a claude_desktop_config.json.
func readMCPJSON(t *testing.T) map[string]stdioEntry {
	t.Helper()
	raw, err := os.ReadFile("../../mcp.json")
	if err != nil {
		t.Fatal(err)
	}
	return parseDesktopConfig(t, "mcp.json", raw)
}

func parseDesktopConfig(t *testing.T, where string, raw []byte) map[string]stdioEntry {
	t.Helper()
	var cfg struct {
		MCPServers map[string]stdioEntry `json:"mcpServers"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s is not a valid claude_desktop_config.json (stdio entries of command, args, env): %v", where, err)
	}
	for name, s := range cfg.MCPServers {
		if s.Command == "" {
			t.Errorf("%s: %s has no command", where, name)
		}
	}
	return cfg.MCPServers
}

// mcp.json holds exactly a sandbox entry that runs as it is and a real-keys
// entry with a place for every vendor's credentials, all left empty: as
// pasted it enables no vendor (and says so), and filled in it enables each.
func TestMCPJSONEntries(t *testing.T) {
	servers := readMCPJSON(t)
	var sandbox, real []string
	for name, s := range servers {
		if slices.Contains(s.Args, "--sandbox") {
			sandbox = append(sandbox, name)
		} else {
			real = append(real, name)
		}
	}
	if len(sandbox) != 1 || len(real) != 1 {
		t.Fatalf("mcp.json should hold one sandbox entry and one real-keys entry, has %v and %v", sandbox, real)
	}
	sb := servers[sandbox[0]]
	if code, stderr := start(t, sb.Args, envList(sb.Env)...); code != 0 {
		t.Errorf("%s does not start: %s", sandbox[0], stderr)
	}

	s := servers[real[0]]
	for _, v := range tools.Vendors() {
		for _, c := range v.Credentials() {
			if _, ok := s.Env[c]; !ok {
				t.Errorf("%s: no place for %s", real[0], c)
			}
		}
		ok, err := v.Configured(context.Background(), env(envList(s.Env)...))
		if ok || err != nil {
			t.Errorf("%s as pasted: %s configured %v (%v); its placeholders must enable no vendor", real[0], v.Name(), ok, err)
		}
	}
	if _, ok := s.Env["VIXIEES_BASE_URL"]; !ok {
		t.Errorf("%s: no VIXIEES_BASE_URL (the Vixiees doc names no base URL)", real[0])
	}
	code, stderr := start(t, s.Args, envList(s.Env)...)
	if code == 0 || !strings.Contains(stderr, "no vendor is configured") {
		t.Errorf("%s as pasted: exit %d: %s", real[0], code, stderr)
	}
	filled := map[string]string{}
	for k, val := range s.Env {
		filled[k] = val
		for _, v := range tools.Vendors() {
			if slices.Contains(v.Credentials(), k) {
				filled[k] = "filled-in-" + strings.ToLower(k)
			}
		}
	}
	for _, v := range tools.Vendors() {
		if ok, err := v.Configured(context.Background(), env(envList(filled)...)); !ok || err != nil {
			t.Errorf("%s with its keys filled in: %s configured %v (%v)", real[0], v.Name(), ok, err)
		}
	}
}

func envList(m map[string]string) []string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k, v)
	}
	return kv
}

// The README's client examples are valid JSON; its mcpServers example is
// mcp.json itself, and its remote (url) examples are for clients that take
// them, never in the Claude Desktop format.
func TestReadmeClientExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	mcpJSON := readMCPJSON(t)
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(readme, -1)
	var desktop, remote int
	for _, b := range blocks {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b[1], &doc); err != nil {
			t.Errorf("README JSON example does not parse: %v\n%s", err, b[1])
			continue
		}
		for _, key := range []string{"servers", "mcpServers"} {
			var servers map[string]map[string]any
			if raw, ok := doc[key]; !ok {
				continue
			} else if err := json.Unmarshal(raw, &servers); err != nil {
				t.Errorf("README %s example: %v", key, err)
			}
			for name, s := range servers {
				if u, ok := s["url"].(string); ok {
					remote++
					if _, ok := s["command"]; ok {
						t.Errorf("README %s.%s has both url and command", key, name)
					}
					if !strings.HasSuffix(u, "/mcp") {
						t.Errorf("README %s.%s: url %s should end in /mcp", key, name, u)
					}
					if key == "servers" && s["type"] != "http" {
						t.Errorf(`README %s.%s: VS Code needs "type": "http" with a url`, key, name)
					}
				}
			}
		}
		if _, ok := doc["mcpServers"]; ok && !strings.Contains(string(b[1]), `"url"`) {
			desktop++
			if got := parseDesktopConfig(t, "README's mcpServers example", b[1]); !reflect.DeepEqual(got, mcpJSON) {
				t.Errorf("README's mcpServers example is not mcp.json:\n%s", b[1])
			}
		}
	}
	if desktop != 1 || remote == 0 {
		t.Errorf("README has %d mcpServers (stdio) examples and %d remote ones; want mcp.json once and a hosted url example", desktop, remote)
	}
}
