package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// session is one MCP client session: initialize once, then JSON-RPC calls.
type session interface {
	rpc(ctx context.Context, method string, params any) (json.RawMessage, error)
	close()
}

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      *int64 `json:"id,omitempty"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
}

type rpcResponse struct {
	ID     *int64          `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (r rpcResponse) value() (json.RawMessage, error) {
	if r.Error != nil {
		return nil, fmt.Errorf("json-rpc error %d: %s", r.Error.Code, r.Error.Message)
	}
	return r.Result, nil
}

var initParams = map[string]any{
	"protocolVersion": "2025-06-18",
	"capabilities":    map[string]any{},
	"clientInfo":      map[string]any{"name": "crm-mcp-load", "version": "1"},
}

// newHTTPClient is the one client every request of a run goes through: the
// tool calls and the direct emulator calls share its connection pool.
func newHTTPClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // loopback only, never through a proxy
	t.MaxIdleConns = conns + 16
	t.MaxIdleConnsPerHost = conns + 16
	return &http.Client{Transport: t}
}

// httpSession speaks streamable HTTP (POST /mcp). A stateful server names
// the session in Mcp-Session-Id; a stateless one issues none, and each
// request then stands alone.
type httpSession struct {
	c       *http.Client
	url     string
	sid     string
	version string // negotiated protocol version, sent as Mcp-Protocol-Version after initialize
	next    atomic.Int64
	auth    string
}

func openHTTP(ctx context.Context, c *http.Client, base, auth string) (*httpSession, error) {
	s := &httpSession{c: c, url: base + "/mcp", auth: auth}
	raw, err := s.rpc(ctx, "initialize", initParams)
	if err != nil {
		return nil, err
	}
	var init struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(raw, &init); err != nil || init.ProtocolVersion == "" {
		return nil, fmt.Errorf("initialize: no protocolVersion in the result: %.200s", raw)
	}
	s.version = init.ProtocolVersion
	if err := s.post(ctx, rpcRequest{JSONRPC: "2.0", Method: "notifications/initialized"}, nil); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *httpSession) rpc(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id := s.next.Add(1)
	var resp rpcResponse
	if err := s.post(ctx, rpcRequest{JSONRPC: "2.0", ID: &id, Method: method, Params: params}, &resp); err != nil {
		return nil, err
	}
	return resp.value()
}

func (s *httpSession) post(ctx context.Context, msg rpcRequest, out *rpcResponse) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.sid != "" {
		req.Header.Set("Mcp-Session-Id", s.sid)
	}
	if s.version != "" {
		req.Header.Set("Mcp-Protocol-Version", s.version)
	}
	if s.auth != "" {
		req.Header.Set("Authorization", "Bearer "+s.auth)
	}
	resp, err := s.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d: %s", msg.Method, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" && s.sid == "" {
		s.sid = sid
	}
	if out == nil {
		return nil
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for _, line := range strings.Split(string(data), "\n") {
			d, ok := strings.CutPrefix(line, "data:")
			if !ok {
				continue
			}
			var r rpcResponse
			if json.Unmarshal([]byte(strings.TrimSpace(d)), &r) == nil && r.ID != nil && *r.ID == *msg.ID {
				*out = r
				return nil
			}
		}
		return fmt.Errorf("%s: no reply in the event stream", msg.Method)
	}
	return json.Unmarshal(data, out)
}

func (s *httpSession) close() {
	if s.sid == "" { // stateless: nothing to end
		return
	}
	req, err := http.NewRequest(http.MethodDelete, s.url, nil)
	if err != nil {
		return
	}
	req.Header.Set("Mcp-Session-Id", s.sid)
	if resp, err := s.c.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
}

// sseSession speaks the legacy SSE transport: GET /sse holds a stream that
// carries the replies; requests are POSTed to the endpoint it names.
type sseSession struct {
	c        *http.Client
	endpoint string
	auth     string
	cancel   context.CancelFunc
	next     atomic.Int64

	mu      sync.Mutex
	pending map[int64]chan rpcResponse
	err     error
}

func openSSE(ctx context.Context, c *http.Client, base, auth string) (*sseSession, error) {
	sctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, base+"/sse", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET /sse: HTTP %d", resp.StatusCode)
	}
	s := &sseSession{c: c, auth: auth, cancel: cancel, pending: map[int64]chan rpcResponse{}}
	rd := bufio.NewReader(resp.Body)
	got := make(chan error, 1)
	go func() {
		defer resp.Body.Close()
		first := true
		err := readEvents(rd, func(event, data string) {
			if first && event == "endpoint" {
				first = false
				s.endpoint = base + data
				got <- nil
				return
			}
			if event != "message" && event != "" {
				return
			}
			var r rpcResponse
			if json.Unmarshal([]byte(data), &r) != nil || r.ID == nil {
				return
			}
			s.mu.Lock()
			ch := s.pending[*r.ID]
			delete(s.pending, *r.ID)
			s.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		})
		if first {
			got <- fmt.Errorf("GET /sse: stream ended before the endpoint event: %v", err)
		}
		s.mu.Lock()
		s.err = errors.Join(errors.New("SSE stream closed"), err)
		for id, ch := range s.pending {
			close(ch)
			delete(s.pending, id)
		}
		s.mu.Unlock()
	}()
	select {
	case err := <-got:
		if err != nil {
			cancel()
			return nil, err
		}
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
	if _, err := s.rpc(ctx, "initialize", initParams); err != nil {
		s.close()
		return nil, err
	}
	if err := s.send(ctx, rpcRequest{JSONRPC: "2.0", Method: "notifications/initialized"}); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// readEvents calls fn for each server-sent event until the stream ends.
func readEvents(rd *bufio.Reader, fn func(event, data string)) error {
	var event string
	var data []string
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if len(data) > 0 {
				fn(event, strings.Join(data, "\n"))
			}
			event, data = "", data[:0]
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(line[len("data:"):], " "))
		}
	}
}

func (s *sseSession) rpc(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id := s.next.Add(1)
	ch := make(chan rpcResponse, 1)
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	s.pending[id] = ch
	s.mu.Unlock()
	if err := s.send(ctx, rpcRequest{JSONRPC: "2.0", ID: &id, Method: method, Params: params}); err != nil {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, errors.New("SSE stream closed before the reply")
		}
		return r.value()
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (s *sseSession) send(ctx context.Context, msg rpcRequest) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.auth != "" {
		req.Header.Set("Authorization", "Bearer "+s.auth)
	}
	resp, err := s.c.Do(req)
	if err != nil {
		return err
	}
	data, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d: %s", msg.Method, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return nil
}

func (s *sseSession) close() { s.cancel() }

func open(ctx context.Context, transport string, c *http.Client, base, auth string) (session, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if transport == "sse" {
		return openSSE(ctx, c, base, auth)
	}
	return openHTTP(ctx, c, base, auth)
}

// toolResult is what the load command reads of a tools/call result: a
// failure's facts are in _meta (tools.ErrorMeta).
type toolResult struct {
	IsError bool `json:"isError"`
	Meta    struct {
		Error struct {
			Kind              string `json:"kind"`
			Error             string `json:"error"`
			RetryAfterSeconds int    `json:"retry_after_seconds"`
		} `json:"crm-mcp/error"`
	} `json:"_meta"`
}

// callTool makes one tools/call and reads whether it failed.
func callTool(ctx context.Context, s session, tool string, args json.RawMessage) (toolResult, error) {
	raw, err := s.rpc(ctx, "tools/call", map[string]any{"name": tool, "arguments": args})
	if err != nil {
		return toolResult{}, err
	}
	var r toolResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return toolResult{}, fmt.Errorf("tools/call: unreadable result: %w", err)
	}
	return r, nil
}
