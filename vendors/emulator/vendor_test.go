package emulator_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
)

// handled is a Kit behind a one-key vendor limited to two requests a
// minute, whose POST route decodes a body with an integer field.
func handled(t *testing.T, v emulator.Vendor) *emulator.Kit {
	t.Helper()
	k := emulator.NewKit()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contacts/{id}", func(w http.ResponseWriter, r *http.Request) {
		emulator.JSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("POST /contacts", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Age int `json:"age"`
		}
		if !k.Decode(w, r, &in) {
			return
		}
		emulator.JSON(w, http.StatusCreated, in)
	})
	v.ErrBody = func(status int) string { return `{"injected":true}` }
	v.Authorized = func(r *http.Request) bool { return emulator.Bearer(r) == "good" }
	v.Unauthorized = func(w http.ResponseWriter) { emulator.JSON(w, http.StatusUnauthorized, "who?") }
	k.Handle(v, mux)
	return k
}

func do(k *emulator.Kit, method, path, token, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	k.ServeHTTP(w, r)
	return w
}

func TestHandleGuardsCredentialsThenLimits(t *testing.T) {
	var after int
	k := handled(t, emulator.Vendor{
		Limits: emulator.PerMinute(2),
		Throttled: func(w http.ResponseWriter, retryAfter int) {
			after = retryAfter
			w.Header().Set("X-Vendor", "slow down")
			emulator.JSON(w, http.StatusTooManyRequests, "later")
		},
	})
	for range 3 {
		if w := do(k, "GET", "/contacts/cnt_1", "bad", ""); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "who?") {
			t.Fatalf("bad key: %d %s", w.Code, w.Body)
		}
	}
	for i := range 2 {
		if w := do(k, "GET", "/contacts/cnt_1", "good", ""); w.Code != http.StatusOK {
			t.Fatalf("request %d within the limit (refused keys do not count): %d %s", i+1, w.Code, w.Body)
		}
	}
	w := do(k, "GET", "/contacts/cnt_2", "good", "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || w.Header().Get("Retry-After") != strconv.Itoa(after) ||
		after < 1 || after > 61 || w.Header().Get("X-Vendor") != "slow down" {
		t.Fatalf("over the limit: %d %v %s (retryAfter %d)", w.Code, w.Header(), w.Body, after)
	}
	if k.Throttled() != 1 || k.Hits("GET /contacts/{id}") != 6 || k.TotalHits() != 6 {
		t.Fatalf("throttled %d, hits %d of %d", k.Throttled(), k.Hits("GET /contacts/{id}"), k.TotalHits())
	}
	k.Inject(emulator.Fault{Status: http.StatusBadGateway})
	if w := do(k, "GET", "/contacts/cnt_1", "bad", ""); w.Code != http.StatusBadGateway || w.Body.String() != `{"injected":true}` {
		t.Fatalf("faults come before the guard: %d %s", w.Code, w.Body)
	}
}

func TestHandleRouteAndNoLimits(t *testing.T) {
	k := handled(t, emulator.Vendor{Route: emulator.ExactRoute, Limits: emulator.PerMinute(-1)})
	for range 5 {
		if w := do(k, "GET", "/contacts/cnt_1", "good", ""); w.Code != http.StatusOK {
			t.Fatalf("no limit: %d %s", w.Code, w.Body)
		}
	}
	if k.Hits("GET /contacts/cnt_1") != 5 || k.Throttled() != 0 {
		t.Fatalf("ExactRoute hits %d, throttled %d", k.Hits("GET /contacts/cnt_1"), k.Throttled())
	}
}

func TestDecode(t *testing.T) {
	var got error
	bad := func(w http.ResponseWriter, err error) {
		got = err
		if te := emulator.WrongType(err); te != nil {
			emulator.JSON(w, http.StatusUnprocessableEntity, map[string]string{te.Field: te.Value})
			return
		}
		emulator.JSON(w, http.StatusBadRequest, "not JSON")
	}
	strict := handled(t, emulator.Vendor{BadBody: bad})
	for _, c := range []struct {
		body, want string
		status     int
	}{
		{`{"age":41}`, `{"age":41}`, http.StatusCreated},
		{`{"age":"41"}`, `{"age":"string"}`, http.StatusUnprocessableEntity},
		{`{"age":`, `"not JSON"`, http.StatusBadRequest},
		{`[1]`, `"not JSON"`, http.StatusBadRequest}, // a wrong top-level value names no field
		{``, `"not JSON"`, http.StatusBadRequest},
	} {
		w := do(strict, "POST", "/contacts", "good", c.body)
		if w.Code != c.status || strings.TrimSpace(w.Body.String()) != c.want {
			t.Errorf("body %q: %d %s, want %d %s (BadBody saw %v)", c.body, w.Code, w.Body, c.status, c.want, got)
		}
	}

	laravel := handled(t, emulator.Vendor{BadBody: bad, EmptyBody: true})
	if w := do(laravel, "POST", "/contacts", "good", ""); w.Code != http.StatusCreated || strings.TrimSpace(w.Body.String()) != `{"age":0}` {
		t.Fatalf("EmptyBody: an empty body is no input: %d %s", w.Code, w.Body)
	}
	if w := do(laravel, "POST", "/contacts", "good", "{"); w.Code != http.StatusBadRequest {
		t.Fatalf("EmptyBody: a broken body is still bad: %d %s", w.Code, w.Body)
	}

	plain := handled(t, emulator.Vendor{})
	if w := do(plain, "POST", "/contacts", "good", "nope"); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"error"`) {
		t.Fatalf("no BadBody: %d %s", w.Code, w.Body)
	}
}

func TestServeHTTPBeforeHandle(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a Kit without Handle served")
		}
	}()
	do(emulator.NewKit(), "GET", "/", "good", "")
}

func TestHelpers(t *testing.T) {
	type rec struct{ id string }
	items := []*rec{{"a"}, {"b"}, {"b"}}
	if got := emulator.Find(items, func(r *rec) bool { return r.id == "b" }); got != items[1] {
		t.Fatalf("Find = %v, want the first match", got)
	}
	if got := emulator.Find(items, func(r *rec) bool { return r.id == "z" }); got != nil {
		t.Fatalf("Find (none) = %v", got)
	}
	for s, want := range map[string]bool{
		"ada@example.com": true, "ada@localhost": false, "Ada <ada@example.com>": false, "": false, "ada": false,
	} {
		if emulator.ValidEmail(s) != want {
			t.Errorf("ValidEmail(%q) = %v", s, !want)
		}
	}
	if emulator.PerMinute(0) != nil || emulator.PerMinute(-1) != nil || len(emulator.PerMinute(60)) != 1 {
		t.Fatal("PerMinute")
	}
	if now := emulator.Now(); now.Location().String() != "UTC" || now.Nanosecond() != 0 {
		t.Fatalf("Now = %v", now)
	}
}
