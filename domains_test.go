package lpwindow_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

func TestDialResolvesDomains(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	r := &lpwindow.DomainResolver{Host: s.Host(), Insecure: true, HTTPClient: s.HTTPClient()}
	c, err := lpwindow.Dial(tctx(t), lpwindow.Config{
		Account: s.Account(), Insecure: true, HTTPClient: s.HTTPClient(),
		DomainResolver: r, Token: lpwindow.Signup(), // bound to the resolved idp
	})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, s.Domains(), c.Domains())
	assert.NotEmpty(t, c.ConsumerID())
	assert.EqualValues(t, 1, s.IDPCalls())
}

// domainAPI is a scripted Domain API: answer returns the status and body
// for a service; calls are counted per service.
type domainAPI struct {
	srv    *httptest.Server
	mu     sync.Mutex
	calls  map[string]int
	answer func(service string, call int) (int, string)
}

func newDomainAPI(t *testing.T, answer func(service string, call int) (int, string)) *domainAPI {
	d := &domainAPI{calls: map[string]int{}, answer: answer}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Path, "/") // /api/account/{a}/service/{s}/baseURI.json
		if len(parts) != 7 || r.URL.Query().Get("version") != "1.0" {
			http.Error(w, "bad", 400)
			return
		}
		svc := parts[5]
		d.mu.Lock()
		d.calls[svc]++
		n := d.calls[svc]
		d.mu.Unlock()
		code, body := d.answer(svc, n)
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *domainAPI) resolver() *lpwindow.DomainResolver {
	return &lpwindow.DomainResolver{Host: strings.TrimPrefix(d.srv.URL, "http://"), Insecure: true, Retry: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}}
}

func (d *domainAPI) count(svc string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[svc]
}

func listForm(svc string) string {
	return `{"baseURIs":[{"service":"other","account":"1","baseURI":"wrong.example"},{"service":"` + svc + `","account":"1","baseURI":"127.0.0.1:1"}]}`
}

func TestDomainResolverForms(t *testing.T) {
	d := newDomainAPI(t, func(svc string, _ int) (int, string) {
		if svc == "idp" {
			return 200, `{"service":"idp","account":"1","baseURI":"127.0.0.2:2"}` // bare object
		}
		return 200, listForm(svc) // the documented list
	})
	got, err := d.resolver().Resolve(tctx(t), "1")
	require.NoError(t, err)
	assert.Equal(t, lpwindow.Domains{AsyncMessagingEnt: "127.0.0.1:1", IDP: "127.0.0.2:2", Swift: "127.0.0.1:1", ACCDN: "127.0.0.1:1"}, got)
}

func TestDomainResolverCachesAndShares(t *testing.T) {
	d := newDomainAPI(t, func(svc string, _ int) (int, string) {
		time.Sleep(50 * time.Millisecond)
		return 200, listForm(svc)
	})
	r := d.resolver()
	r.TTL = 300 * time.Millisecond
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := r.Resolve(tctx(t), "1")
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, d.count("asyncMessagingEnt"), "20 concurrent callers, one lookup")
	_, err := r.Resolve(tctx(t), "1")
	require.NoError(t, err)
	assert.Equal(t, 1, d.count("asyncMessagingEnt"), "cached")
	time.Sleep(350 * time.Millisecond)
	_, err = r.Resolve(tctx(t), "1")
	require.NoError(t, err)
	assert.Equal(t, 2, d.count("asyncMessagingEnt"), "asked again after the TTL")
	r.Forget("1")
	_, err = r.Resolve(tctx(t), "1")
	require.NoError(t, err)
	assert.Equal(t, 3, d.count("asyncMessagingEnt"), "asked again after Forget")
}

func TestDomainResolverFailures(t *testing.T) {
	t.Run("5xx retried", func(t *testing.T) {
		d := newDomainAPI(t, func(svc string, n int) (int, string) {
			if svc == "asyncMessagingEnt" && n < 3 {
				return 503, "maintenance"
			}
			return 200, listForm(svc)
		})
		got, err := d.resolver().Resolve(tctx(t), "1")
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1:1", got.AsyncMessagingEnt)
		assert.Equal(t, 3, d.count("asyncMessagingEnt"))
	})
	t.Run("5xx beyond the policy", func(t *testing.T) {
		d := newDomainAPI(t, func(svc string, _ int) (int, string) {
			if svc == "asyncMessagingEnt" {
				return 500, "down"
			}
			return 200, listForm(svc)
		})
		_, err := d.resolver().Resolve(tctx(t), "1")
		assert.ErrorIs(t, err, lpwindow.ErrServerError)
		assert.Equal(t, 3, d.count("asyncMessagingEnt"), "one call and two retries")
	})
	t.Run("4xx not retried", func(t *testing.T) {
		d := newDomainAPI(t, func(svc string, _ int) (int, string) {
			if svc == "asyncMessagingEnt" {
				return 401, `{"error":"unknown site"}`
			}
			return 200, listForm(svc)
		})
		_, err := d.resolver().Resolve(tctx(t), "1")
		var he *lpwindow.HTTPError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, 401, he.StatusCode)
		assert.Equal(t, "domain API", he.Service)
		assert.Equal(t, "GET /api/account/1/service/asyncMessagingEnt/baseURI.json", he.Endpoint)
		assert.Equal(t, 1, d.count("asyncMessagingEnt"))
		assert.ErrorIs(t, err, lpwindow.ErrUnauthorized)
	})
	t.Run("429 waits at least a second", func(t *testing.T) {
		d := newDomainAPI(t, func(svc string, n int) (int, string) {
			if n == 1 {
				return 429, ""
			}
			return 200, listForm(svc)
		})
		start := time.Now()
		_, err := d.resolver().Resolve(tctx(t), "1")
		require.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(start), lpwindow.RateLimitPause)
	})
	t.Run("optional service unknown", func(t *testing.T) {
		d := newDomainAPI(t, func(svc string, _ int) (int, string) {
			if svc == "acCdnDomain" {
				return 400, "unknown service"
			}
			return 200, listForm(svc)
		})
		got, err := d.resolver().Resolve(tctx(t), "1")
		require.NoError(t, err)
		assert.Empty(t, got.ACCDN)
		assert.NotEmpty(t, got.Swift)
	})
	t.Run("answer without the service", func(t *testing.T) {
		d := newDomainAPI(t, func(svc string, _ int) (int, string) {
			if svc == "asyncMessagingEnt" {
				return 200, `{"baseURIs":[]}`
			}
			return 200, listForm(svc)
		})
		_, err := d.resolver().Resolve(tctx(t), "1")
		assert.ErrorContains(t, err, "no host for asyncMessagingEnt")
	})
	t.Run("a host that is not a host", func(t *testing.T) {
		d := newDomainAPI(t, func(svc string, _ int) (int, string) {
			return 200, `{"service":"` + svc + `","baseURI":"https://evil.example/path"}`
		})
		_, err := d.resolver().Resolve(tctx(t), "1")
		assert.ErrorIs(t, err, lpwindow.ErrInvalidConfig)
	})
	t.Run("failures are not cached", func(t *testing.T) {
		var fail atomic.Bool
		fail.Store(true)
		d := newDomainAPI(t, func(svc string, _ int) (int, string) {
			if fail.Load() {
				return 404, ""
			}
			return 200, listForm(svc)
		})
		r := d.resolver()
		_, err := r.Resolve(tctx(t), "1")
		assert.ErrorIs(t, err, lpwindow.ErrNotFound)
		fail.Store(false)
		_, err = r.Resolve(tctx(t), "1")
		assert.NoError(t, err)
	})
	t.Run("context", func(t *testing.T) {
		d := newDomainAPI(t, func(string, int) (int, string) { return 503, "" })
		r := d.resolver()
		r.Retry = []time.Duration{time.Hour}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.Resolve(ctx, "1")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
}
