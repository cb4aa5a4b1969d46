package lpwindow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// DefaultRetry is the pause before each retry of a REST call that failed
// transiently (a network error or a 5xx): LivePerson's retry policy says
// three retries with 5, 10 and 15 second pauses (reference §18). A 429
// waits at least RateLimitPause, with jitter, whatever the slice says.
var DefaultRetry = []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second}

// RateLimitPause is the least a call answered with 429 waits before it is
// retried (reference §18: "retry after ≥ 1 s"); up to as much again is
// added at random, to smooth out bursts.
const RateLimitPause = time.Second

// restCall is one JSON call to a LivePerson REST service.
type restCall struct {
	hc       *http.Client
	method   string
	scheme   string // "https" or "http"
	host     string
	path     string // starts with "/"; no secrets
	query    string // without "?"; no secrets
	body     any    // marshalled to JSON; nil sends no body
	service  string // for errors, e.g. "idp"
	retry    []time.Duration
	secrets  []string // redacted from error bodies
	log      *slog.Logger
	maxBytes int64
}

// do runs the call, retrying transient failures, and returns the body of a
// 2xx answer. A non-2xx answer is an *HTTPError; 4xx are not retried.
func (r restCall) do(ctx context.Context) ([]byte, error) {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("lpwindow: %s %s: encoding the body: %w", r.service, r.path, err)
		}
	}
	retry := r.retry
	if retry == nil {
		retry = DefaultRetry
	}
	for attempt := 0; ; attempt++ {
		body, status, err := r.once(ctx, payload)
		if err == nil && status/100 == 2 {
			return body, nil
		}
		if err == nil {
			err = &HTTPError{StatusCode: status, Service: r.service, Endpoint: r.method + " " + r.path, Body: redact(strings.TrimSpace(string(truncateBytes(body, 512))), r.secrets)}
		} else {
			err = fmt.Errorf("lpwindow: %s %s %s: %w", r.service, r.method, r.path, redactErr(err, r.secrets))
		}
		if ctx.Err() != nil || attempt >= len(retry) || (status >= 400 && status < 500 && status != http.StatusTooManyRequests) {
			return nil, err
		}
		pause := retry[attempt]
		if status == http.StatusTooManyRequests {
			pause = max(pause, RateLimitPause) + rand.N(RateLimitPause)
		}
		if r.log != nil {
			r.log.Debug("lpwindow: retrying a REST call", "service", r.service, "path", r.path, "err", err, "pause", pause)
		}
		if err := sleep(ctx, pause); err != nil {
			return nil, err
		}
	}
}

func (r restCall) once(ctx context.Context, payload []byte) ([]byte, int, error) {
	u := r.scheme + "://" + r.host + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	if r.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	limit := r.maxBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, 0, err
	}
	return b, resp.StatusCode, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func truncateBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// redact replaces every secret in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 8 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// redactErr hides secrets an error's text might carry (a *url.Error
// quotes the URL; ours never holds one, but a proxy's error might).
func redactErr(err error, secrets []string) error {
	msg := err.Error()
	if red := redact(msg, secrets); red != msg {
		return redactedError{msg: red, err: err}
	}
	return err
}

// redactedError shows a redacted message but still matches what the
// original error matches.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// schemeFor returns "http" for insecure (loopback) configs, else "https".
func schemeFor(insecure bool) string {
	if insecure {
		return "http"
	}
	return "https"
}
