package main

import (
	"io"
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
