package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

// stdioPeer is a client on the other end of serveStdio's pipes.
type stdioPeer struct {
	t   *testing.T
	in  *io.PipeWriter
	out *bufio.Scanner
}

type rpcLine struct {
	ID     *int            `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Params struct {
		ProgressToken any `json:"progressToken"`
	} `json:"params"`
}

// stdioPipes serves a over stdio on pipes until the test ends: what a
// client writes to in, and reads from out.
func stdioPipes(t *testing.T, a *app) (in *io.PipeWriter, out *io.PipeReader) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan struct{})
	go func() {
		_ = serveStdio(context.Background(), a, inR, outW)
		_ = outW.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = inW.Close()
		go func() { _, _ = io.Copy(io.Discard, outR) }()
		<-done
	})
	return inW, outR
}

func startStdio(t *testing.T, a *app) *stdioPeer {
	t.Helper()
	inW, outR := stdioPipes(t, a)
	sc := bufio.NewScanner(outR)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	p := &stdioPeer{t: t, in: inW, out: sc}
	p.send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	p.until(0)
	p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return p
}

func (p *stdioPeer) send(line string) {
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

// until reads lines up to the answer to id and returns every line read.
func (p *stdioPeer) until(id int) []rpcLine {
	p.t.Helper()
	var lines []rpcLine
	for p.out.Scan() {
		var l rpcLine
		if err := json.Unmarshal(p.out.Bytes(), &l); err != nil {
			p.t.Fatalf("not JSON-RPC: %s", p.out.Text())
		}
		lines = append(lines, l)
		if l.ID != nil && *l.ID == id && l.Method == "" {
			return lines
		}
	}
	p.t.Fatalf("no answer to %d; read %d lines", id, len(lines))
	return nil
}

func stdioApp(t *testing.T) *app {
	t.Helper()
	cfg, l := testConfig(t, "CRM_MCP_SANDBOX", "true", "CRM_MCP_TRANSPORT", "stdio")
	a, err := build(context.Background(), cfg, l, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close) // the event log and the poller; after stdioPipes' cleanup, registered later
	return a
}

// Issue 11, papercut 1: every progress notification of crm_search_contacts
// arrives before its result (before: progress 1-4, result, progress 5, and
// the TS SDK dropped the late one as "unknown token").
func TestStdioProgressPrecedesTheResult(t *testing.T) {
	p := startStdio(t, stdioApp(t))
	for i := 1; i <= 20; i++ {
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"crm_search_contacts","arguments":{"query":"emily"},"_meta":{"progressToken":"p%d"}}}`, i, i))
		progress := 0
		for _, l := range p.until(i) {
			if l.Method == "notifications/progress" {
				if l.Params.ProgressToken != fmt.Sprintf("p%d", i) {
					t.Fatalf("call %d: progress for token %v, after its result or for another call", i, l.Params.ProgressToken)
				}
				progress++
			}
		}
		if progress != 5 {
			t.Fatalf("call %d: %d progress notifications before the result, want 5", i, progress)
		}
	}
}

// A subscriptions/listen stream over stdio begins with its acknowledgement,
// also when nothing could be established and the result follows at once
// (before: the result always came first, its acknowledgement after it).
func TestStdioListenAcknowledgesFirst(t *testing.T) {
	in, out := stdioPipes(t, stdioApp(t))
	const n = 30
	go func() {
		for i := 1; i <= n; i++ {
			_, _ = fmt.Fprintf(in, `{"jsonrpc":"2.0","id":%d,"method":"subscriptions/listen","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"notifications":{"toolsListChanged":true}}}`+"\n", i)
		}
	}()
	sc := bufio.NewScanner(out)
	acked := map[float64]bool{}
	for answered := 0; answered < n && sc.Scan(); {
		var m struct {
			ID     *float64 `json:"id"`
			Method string   `json:"method"`
			Params struct {
				Meta map[string]any `json:"_meta"`
			} `json:"params"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON-RPC: %s", sc.Text())
		}
		switch {
		case m.Method == "notifications/subscriptions/acknowledged":
			id, _ := m.Params.Meta["io.modelcontextprotocol/subscriptionId"].(float64)
			acked[id] = true
		case m.ID != nil:
			if !acked[*m.ID] {
				t.Fatalf("listen %v answered before its acknowledgement: %s", *m.ID, sc.Text())
			}
			answered++
		}
	}
}

// Issue 11, papercut 2: a request the client cancelled gets no answer.
func TestStdioCancelledRequestIsNotAnswered(t *testing.T) {
	a := stdioApp(t)
	a.emulators["vivre"].(*vivretest.Emulator).SetLatency(time.Second)
	p := startStdio(t, a)
	p.send(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"vivre_get_contact","arguments":{"id":"cnt_8800"}}}`)
	time.Sleep(100 * time.Millisecond) // the call is waiting on the vendor (a later cancel is a no-op: also fine)
	p.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"user"}}`)
	p.send(`{"jsonrpc":"2.0","id":8,"method":"ping"}`)
	for _, l := range p.until(8) {
		if l.ID != nil && *l.ID == 7 {
			t.Fatal("the cancelled request was answered")
		}
	}
	time.Sleep(1500 * time.Millisecond) // past the vendor's answer
	p.send(`{"jsonrpc":"2.0","id":9,"method":"ping"}`)
	for _, l := range p.until(9) {
		if l.ID != nil && *l.ID == 7 {
			t.Fatal("the cancelled request was answered")
		}
	}
}
