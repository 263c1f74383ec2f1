// Package redistest gives tests a real Redis: the one named by REDIS_URL
// (CI starts one), or else a redis-server it starts on a free loopback
// port when the binary is on PATH. With neither, the test is skipped and
// says why. Each test gets its own database number to stay independent.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	once    sync.Once
	baseURL string
	skipWhy string
	nextDB  atomic.Int32
)

// URL returns a redis:// URL of a fresh, empty database for this test.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if baseURL == "" {
		t.Skip("no Redis: " + skipWhy)
	}
	db := 1 + int(nextDB.Add(1))%15
	u := fmt.Sprintf("%s/%d", baseURL, db)
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", baseURL, err)
	}
	return u
}

// Client returns a client of a fresh database for this test.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func start() {
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			skipWhy = "REDIS_URL is not a redis URL: " + err.Error()
			return
		}
		baseURL = "redis://" + opt.Addr
		return
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		skipWhy = "REDIS_URL is unset and redis-server is not on PATH (apt-get install redis-server, or run .ci/run)"
		return
	}
	port, err := freePort()
	if err != nil {
		skipWhy = err.Error()
		return
	}
	dir, _ := os.MkdirTemp("", "redistest")
	cmd := command(bin, port, dir)
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		skipWhy = "starting redis-server: " + err.Error()
		return
	}
	// The server lives as long as the test binary (see dieWithParent).
	go func() { _ = cmd.Wait() }()
	addr := loopback(port)
	if !ready(addr) {
		skipWhy = "redis-server did not start on " + addr
		return
	}
	baseURL = "redis://" + addr
}

// freePort is a loopback port nothing listens on (at the time of asking).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// command is a redis-server on port that persists nothing.
func command(bin string, port int, dir string) *exec.Cmd {
	return exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
}

// ready waits (200 tries, 20 ms apart) until the Redis at addr answers
// PING: an open port alone may be a server still starting or loading.
func ready(addr string) bool {
	for range 200 {
		if pong(addr) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// ClientFor returns another client of the database at url (a second replica).
func ClientFor(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Server is a redis-server of one test's own, which the test may stop and
// start again on the same port: Redis dying in the middle of a call.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	mu   sync.Mutex // Stop may come from another goroutine than Start
	cmd  *exec.Cmd
}

// Own starts a private redis-server (skipping the test when the binary is
// not on PATH); it is stopped when the test ends.
func Own(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH (apt-get install redis-server, or run .ci/run)")
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: port}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return loopback(s.port) }

// Start starts the server (empty: nothing is persisted) and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	// No dieWithParent here: its signal follows the OS thread that started
	// the child, which the Go runtime may retire while the test runs. The
	// test's cleanup stops the server.
	cmd := command(s.bin, s.port, s.dir)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	if !ready(s.Addr()) {
		s.t.Fatalf("redis-server did not start on %s", s.Addr())
	}
}

// Stop kills the server at once, as a crash would.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// pong reports whether the Redis at addr answers PING.
func pong(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := c.Read(buf)
	return string(buf[:n]) == "+PONG\r\n"
}
