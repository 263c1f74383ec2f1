package vendors_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

// Benchmarks of the REST core: one GET /contacts/{id} decoded into a
// contact, against the Vivre emulator (limits lifted). See BENCHMARKS.md.

func getContact(b *testing.B, c *vendors.Client) {
	ctx := context.Background()
	req := vendors.NewRequest(http.MethodGet, "/contacts/cnt_8800", nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		var out vendors.Unwrap[vivre.Contact]
		if err := c.Do(ctx, req, &out); err != nil || out.V.ID != "cnt_8800" {
			b.Fatalf("%+v %v", out, err)
		}
	}
}

func header() http.Header {
	return http.Header{"Authorization": {"Bearer " + vivretest.APIKey}, "X-Workspace-Id": {vivretest.WorkspaceID}}
}

// In memory (the --sandbox transport): the client's own cost plus the emulator.
func BenchmarkClientDoInMemory(b *testing.B) {
	emu := vivretest.New(vivretest.Options{RatePerMinute: -1})
	o := vendors.Options{HTTP: &http.Client{Transport: emulator.Transport(emu)}}
	getContact(b, o.NewClient("vivre", "http://vivre.bench.invalid", header(), nil, vivretest.APIKey))
}

// The same with the in-process limiter on the path (a window never reached).
func BenchmarkClientDoInMemoryLimited(b *testing.B) {
	emu := vivretest.New(vivretest.Options{RatePerMinute: -1})
	o := vendors.Options{HTTP: &http.Client{Transport: emulator.Transport(emu)}, Limiter: ratelimit.NewMemory()}
	w := []ratelimit.Window{{Limit: 1 << 30, Period: time.Minute}}
	getContact(b, o.NewClient("vivre", "http://vivre.bench.invalid", header(), w, vivretest.APIKey))
}

// Over a real loopback connection (keep-alive), as against a vendor.
func BenchmarkClientDoLoopback(b *testing.B) {
	srv := vivretest.NewServer(vivretest.Options{RatePerMinute: -1})
	b.Cleanup(srv.Close)
	getContact(b, vendors.Options{}.NewClient("vivre", srv.URL, header(), nil, vivretest.APIKey))
}
