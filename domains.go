package lpwindow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultDomainAPIHost is the production Domain API host (reference §2).
const DefaultDomainAPIHost = "api.liveperson.net"

// DefaultDomainTTL is how long resolved domains are cached.
const DefaultDomainTTL = time.Hour

// DomainResolver finds an account's LivePerson hosts with the Domain API
// (reference §2) and caches them. Dial uses one when Config.Domains has no
// AsyncMessagingEnt. Its zero value works and is safe for concurrent use;
// one resolver shared by many Conns asks once per account and TTL.
type DomainResolver struct {
	// Host is the Domain API host. Default DefaultDomainAPIHost.
	Host string
	// HTTPClient makes the calls. Default http.DefaultClient.
	HTTPClient *http.Client
	// Insecure uses http:// instead of https://; allowed only for a
	// loopback Host (tests against lpwindowtest). Default false.
	Insecure bool
	// TTL is how long a resolution is cached. Default DefaultDomainTTL.
	TTL time.Duration
	// Retry is the pause before each retry of a transient failure.
	// Default DefaultRetry; an empty non-nil slice never retries.
	Retry []time.Duration
	// Logger receives debug logs of retries. Default: none.
	Logger *slog.Logger

	mu    sync.Mutex
	cache map[string]*domainEntry // by account
}

type domainEntry struct {
	done    chan struct{} // closed when the lookup ends
	domains Domains
	err     error
	expires time.Time
}

// defaultResolver serves Dial when Config.DomainResolver is nil.
var defaultResolver = &DomainResolver{}

// domainServices are the services resolved, and whether each is required.
// UNCONFIRMED (reference §2): the exact spelling of "acCdnDomain"; the
// account may not have file sharing (swift). A 4xx for an optional service
// leaves its host empty, and the feature that needs it says so when used.
var domainServices = []struct {
	name     string
	required bool
	set      func(*Domains, string)
}{
	{"asyncMessagingEnt", true, func(d *Domains, h string) { d.AsyncMessagingEnt = h }},
	{"idp", true, func(d *Domains, h string) { d.IDP = h }},
	{"swift", false, func(d *Domains, h string) { d.Swift = h }},
	{"acCdnDomain", false, func(d *Domains, h string) { d.ACCDN = h }},
}

// Resolve returns the account's hosts: asyncMessagingEnt and idp (both
// required), swift and acCdnDomain (empty when the Domain API does not know
// them). A lookup in progress for the same account is shared; a success is
// cached for TTL, a failure is not. A failure is an *HTTPError or a network
// error, after the retries of Retry; 4xx are not retried.
func (r *DomainResolver) Resolve(ctx context.Context, account string) (Domains, error) {
	if err := checkAccount(account); err != nil {
		return Domains{}, err
	}
	host := r.Host
	if host == "" {
		host = DefaultDomainAPIHost
	}
	if err := checkHost(host, r.Insecure); err != nil {
		return Domains{}, err
	}
	for {
		r.mu.Lock()
		if r.cache == nil {
			r.cache = map[string]*domainEntry{}
		}
		e := r.cache[account]
		if e == nil || (isDone(e.done) && (e.err != nil || time.Now().After(e.expires))) {
			e = &domainEntry{done: make(chan struct{})}
			r.cache[account] = e
			r.mu.Unlock()
			e.domains, e.err = r.lookup(ctx, host, account)
			ttl := r.TTL
			if ttl <= 0 {
				ttl = DefaultDomainTTL
			}
			e.expires = time.Now().Add(ttl)
			close(e.done)
			return e.domains, e.err
		}
		r.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return Domains{}, fmt.Errorf("lpwindow: resolving domains: %w", ctx.Err())
		}
		if e.err == nil {
			return e.domains, nil
		}
		if ctx.Err() != nil {
			return Domains{}, e.err
		}
		// The shared lookup failed (perhaps its caller gave up): try ours.
		if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
			continue
		}
		return Domains{}, e.err
	}
}

// Forget drops the cached domains of account, so that the next Resolve
// asks again (after hosts moved, for example).
func (r *DomainResolver) Forget(account string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.cache[account]; e != nil && isDone(e.done) {
		delete(r.cache, account)
	}
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// lookup asks for every service at once, one call each.
func (r *DomainResolver) lookup(ctx context.Context, host, account string) (Domains, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hosts := make([]string, len(domainServices))
	errs := make([]error, len(domainServices))
	var wg sync.WaitGroup
	var once sync.Once
	var first error // the failure that stopped the others
	for i, svc := range domainServices {
		wg.Go(func() {
			hosts[i], errs[i] = r.lookupOne(ctx, host, account, svc.name)
			if errs[i] != nil && svc.required {
				once.Do(func() { first = errs[i]; cancel() })
			}
		})
	}
	wg.Wait()
	if first != nil {
		return Domains{}, first
	}
	var d Domains
	for i, svc := range domainServices {
		var he *HTTPError
		switch {
		case errs[i] == nil:
			svc.set(&d, hosts[i])
		case svc.required:
			return Domains{}, errs[i]
		case errors.As(errs[i], &he) && he.StatusCode >= 400 && he.StatusCode < 500:
			if r.Logger != nil {
				r.Logger.Warn("lpwindow: the Domain API has no host for an optional service", "service", svc.name, "err", errs[i])
			}
		default:
			return Domains{}, errs[i]
		}
	}
	return d, nil
}

// lookupOne resolves one service:
//
//	GET https://{host}/api/account/{account}/service/{service}/baseURI.json?version=1.0
//
// The answer is a bare {"service","account","baseURI"} object or the
// documented list {"baseURIs":[…]}; both are accepted (reference §2,
// UNCONFIRMED which one a single-service call returns).
func (r *DomainResolver) lookupOne(ctx context.Context, host, account, service string) (string, error) {
	hc := r.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	path := "/api/account/" + url.PathEscape(account) + "/service/" + service + "/baseURI.json"
	body, err := restCall{hc: hc, method: http.MethodGet, scheme: schemeFor(r.Insecure), host: host, path: path,
		query: "version=1.0", service: "domain API", retry: r.Retry, log: r.Logger}.do(ctx)
	if err != nil {
		return "", err
	}
	var b struct {
		Service  string `json:"service"`
		BaseURI  string `json:"baseURI"`
		BaseURIs []struct {
			Service string `json:"service"`
			BaseURI string `json:"baseURI"`
		} `json:"baseURIs"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return "", fmt.Errorf("lpwindow: domain API %s: undecodable answer: %w", service, err)
	}
	found := ""
	for _, u := range b.BaseURIs {
		if u.Service == service {
			found = u.BaseURI
			break
		}
	}
	if found == "" && (b.Service == "" || b.Service == service) {
		found = b.BaseURI
	}
	if found == "" {
		return "", fmt.Errorf("lpwindow: domain API: no host for %s in the answer", service)
	}
	if err := checkHost(found, false); err != nil {
		return "", fmt.Errorf("lpwindow: domain API %s: %w", service, err)
	}
	if r.Insecure && !isLoopback(found) {
		return "", invalidf(ErrInvalidConfig, "the Domain API answered %q for %s, not a loopback host, while Insecure is set", found, service)
	}
	return found, nil
}

// checkHost accepts a host name with an optional port, no scheme or path.
func checkHost(h string, insecure bool) error {
	if h == "" || strings.ContainsAny(h, "/?#@ \\") {
		return invalidf(ErrInvalidConfig, "host %q must be a host name without scheme or path", h)
	}
	if insecure && !isLoopback(h) {
		return invalidf(ErrInvalidConfig, "Insecure is allowed only for loopback hosts, not %q", h)
	}
	return nil
}

func checkAccount(account string) error {
	if account == "" || len(account) > 64 || strings.ContainsAny(account, "/?#%@ \\") {
		return invalidf(ErrInvalidConfig, "Account %q must be a non-empty account id", account)
	}
	return nil
}
