package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
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
