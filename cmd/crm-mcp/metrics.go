package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crm-mcp/crm-mcp/tools"
)

// metrics are the Prometheus series of /metrics, on a registry of the app's
// own (not the global one) so tests and several apps in one process agree.
type metrics struct {
	reg          *prometheus.Registry
	calls        *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	vendorReqs   *prometheus.CounterVec
	limiterWait  *prometheus.HistogramVec
	dupesBlocked *prometheus.CounterVec
	auth         *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_mcp_tool_calls_total",
			Help: "Tool calls by tool, outcome (ok, the error kind, declined: the person said no, input_required: a 2026-07-28 client is to ask the person) and how the caller authenticated (none, token, oauth)."}, []string{"tool", "outcome", "auth"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crm_mcp_tool_call_duration_seconds",
			Help: "Tool call latency, request in to result out.", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14)}, []string{"tool"}),
		vendorReqs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_mcp_vendor_requests_total",
			Help: "Requests sent to vendors by HTTP status (0: no response)."}, []string{"vendor", "status"}),
		limiterWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crm_mcp_limiter_wait_seconds",
			Help: "Time tool calls waited for the vendor rate limiter.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"vendor"}),
		dupesBlocked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_mcp_duplicate_sends_blocked_total",
			Help: "Sends answered from the duplicate-send guard instead of reaching the vendor."}, []string{"tool"}),
	}
	m.auth = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_mcp_auth_refusals_total",
		Help: "HTTP requests refused by authentication (unauthorized) or scope (insufficient_scope)."}, []string{"reason"})
	m.reg.MustRegister(m.auth, m.calls, m.latency, m.vendorReqs, m.limiterWait, m.dupesBlocked,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeCall(c tools.CallInfo) {
	m.calls.WithLabelValues(c.Tool, c.Outcome, c.Auth).Inc()
	m.latency.WithLabelValues(c.Tool).Observe(c.Duration.Seconds())
	if c.LimiterWait > 0 {
		m.limiterWait.WithLabelValues(c.Vendor).Observe(c.LimiterWait.Seconds())
	}
	if c.Duplicate {
		m.dupesBlocked.WithLabelValues(c.Tool).Inc()
	}
}

func (m *metrics) observeVendor(vendor string, status int, _ time.Duration) {
	m.vendorReqs.WithLabelValues(vendor, strconv.Itoa(status)).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
