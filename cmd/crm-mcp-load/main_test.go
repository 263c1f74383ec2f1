package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAllowedIsTheTightestWindow(t *testing.T) {
	vivre := []window{{60, time.Minute}}
	for _, c := range []struct {
		t    time.Duration
		want int
	}{{0, 60}, {59 * time.Second, 60}, {time.Minute, 120}, {270 * time.Second, 300}} {
		if got := allowed(vivre, c.t); got != c.want {
			t.Errorf("vivre, T=%s: allowed %d, want %d", c.t, got, c.want)
		}
	}
	vixiees := []window{{40, 2 * time.Second}, {25, time.Minute}, {1500, time.Hour}, {36000, 24 * time.Hour}}
	if got := allowed(vixiees, 270*time.Second); got != 125 {
		t.Errorf("vixiees, 4m30s: allowed %d, want 125 (the minute window binds)", got)
	}
	if got := allowed(vixiees, time.Second); got != 25 {
		t.Errorf("vixiees, 1s: allowed %d, want 25", got)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	if p := percentile(ds, .5); p != 50*time.Millisecond {
		t.Errorf("p50 = %s", p)
	}
	if p := percentile(ds, .99); p != 99*time.Millisecond {
		t.Errorf("p99 = %s", p)
	}
}

func TestOnlyLoopbackIsAccepted(t *testing.T) {
	for _, a := range []string{"127.0.0.1:8080", "localhost:1", "[::1]:9"} {
		if _, err := loopbackAddr(a); err != nil {
			t.Errorf("%s refused: %v", a, err)
		}
	}
	for _, a := range []string{"10.0.0.1:80", "example.com:80", "0.0.0.0:8080", "127.0.0.1"} {
		if _, err := loopbackAddr(a); err == nil {
			t.Errorf("%s accepted", a)
		}
	}
	if _, err := parse([]string{"--mode", "throughput", "--addr", "192.168.1.2:80"}, io.Discard); err == nil {
		t.Error("a non-loopback --addr was accepted")
	}
}

func TestBombInflatesToNWhileSendingFew(t *testing.T) {
	const n = 16 << 20
	var sent atomic.Int64
	var buf bytes.Buffer
	fed, whole := writeBomb(context.Background(), countingWriter{w: &buf, n: &sent}, n, bombPrefix, 'a')
	if !whole || fed != n {
		t.Fatalf("writeBomb: fed %d of %d, whole %v", fed, n, whole)
	}
	if int(sent.Load()) != buf.Len() || buf.Len() > n/500 {
		t.Errorf("sent %d bytes (counted %d) for %d inflated: want at most 1/500", buf.Len(), sent.Load(), n)
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, len(bombPrefix)+3)
	if _, err := io.ReadFull(zr, head); err != nil {
		t.Fatal(err)
	}
	if string(head) != bombPrefix+"aaa" {
		t.Errorf("inflated body starts %q", head)
	}
	rest, err := io.Copy(io.Discard, zr)
	if err != nil || int64(len(head))+rest != n {
		t.Errorf("inflated to %d bytes (%v), want %d", int64(len(head))+rest, err, n)
	}
}

func TestBombStopsWhenTheClientHangsUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if fed, whole := writeBomb(ctx, io.Discard, 1<<30, bombPrefix, 'a'); whole || fed != int64(len(bombPrefix)) {
		t.Errorf("after the client left: fed %d, whole %v", fed, whole)
	}
	if fed, whole := writeBomb(context.Background(), &failAfter{left: 4 << 10}, 1<<30, bombPrefix, 'a'); whole || fed >= 64<<20 {
		t.Errorf("after writes failed: fed %d, whole %v", fed, whole)
	}
}

// failAfter accepts left bytes, then fails every write.
type failAfter struct{ left int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		return 0, io.ErrClosedPipe
	}
	f.left -= len(p)
	return len(p), nil
}

func TestGzipBombSessionsDefaultTo40(t *testing.T) {
	c, err := parse([]string{"--mode", "gzipbomb", "--server-bin", "x"}, io.Discard)
	if err != nil || c.bombSessions != 40 {
		t.Errorf("default: %d sessions, %v", c.bombSessions, err)
	}
	c, err = parse([]string{"--mode", "gzipbomb", "--server-bin", "x", "--sessions", "7"}, io.Discard)
	if err != nil || c.bombSessions != 7 {
		t.Errorf("--sessions 7: %d sessions, %v", c.bombSessions, err)
	}
	if _, err := parse([]string{"--mode", "gzipbomb", "--addr", "127.0.0.1:1"}, io.Discard); err == nil {
		t.Error("gzipbomb without --server-bin was accepted")
	}
}

func TestFloorAnswersTheContactFromMemory(t *testing.T) {
	ts := httptest.NewServer(floorHandler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := newHTTPClient(1)
	defer c.CloseIdleConnections()
	sess, err := open(ctx, "http", c, ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.close()
	raw, err := sess.rpc(ctx, "tools/call", map[string]any{"name": "vivre_get_contact", "arguments": json.RawMessage(`{"id":"cnt_8800"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		IsError bool `json:"isError"`
		Content []struct {
			Type, Text string
		} `json:"content"`
		StructuredContent floorContact `json:"structuredContent"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if r.IsError || r.StructuredContent.Name != "Rahul Sharma" || len(r.Content) != 1 || !strings.Contains(r.Content[0].Text, `"ai_score":35`) {
		t.Errorf("floor answered %s", raw)
	}
	r2, err := callTool(ctx, sess, "vivre_get_contact", json.RawMessage(`{"id":"cnt_0"}`))
	if err != nil || !r2.IsError {
		t.Errorf("unknown id: %+v, %v", r2, err)
	}
}

func TestFloorModeFlags(t *testing.T) {
	c, err := parse([]string{"--mode", "floor", "--server-bin", "x"}, io.Discard)
	if err != nil || c.floorSessions != 8 {
		t.Errorf("default: %d sessions, %v", c.floorSessions, err)
	}
	if c, err := parse([]string{"--mode", "floor", "--server-bin", "x", "--sessions", "2"}, io.Discard); err != nil || c.floorSessions != 2 {
		t.Errorf("--sessions 2: %d sessions, %v", c.floorSessions, err)
	}
	if _, err := parse([]string{"--mode", "floor", "--addr", "127.0.0.1:1"}, io.Discard); err == nil {
		t.Error("floor without --server-bin was accepted")
	}
	if _, err := parse([]string{"--mode", "floor", "--server-bin", "x", "--tool", "vivre_list_contacts"}, io.Discard); err == nil {
		t.Error("floor with another tool was accepted")
	}
	if run(context.Background(), []string{serveFloorFlag, "10.0.0.1:80"}, io.Discard, io.Discard) != 1 {
		t.Error("the floor served on a non-loopback address")
	}
}

func TestProcCPUReadsOurOwnProcess(t *testing.T) {
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
