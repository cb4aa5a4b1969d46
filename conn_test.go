package lpwindow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow/internal/leakcheck"
	"github.com/lpwindow/lpwindow/internal/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv(echoServerEnv) != "" {
		serveEchoProcess() // the out-of-process server of BenchmarkIdleConn
		return
	}
	leakcheck.Main(m)
}

func dial(t *testing.T, cfg Config) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDialHeaderAuth(t *testing.T) {
	s := newUMSServer(t).start()
	cfg := s.config(AuthHeaders)
	cfg.ClientProperties = ClientProperties{AppID: "webAsync", DeviceFamily: DeviceDesktop, OS: OSLinux, Features: []Feature{FeatureRichContent, FeatureMultiDialog}}
	c := dial(t, cfg)
	assert.Equal(t, StateReady, c.State())
	assert.Equal(t, "consumer-1", c.ConsumerID())

	s.mu.Lock()
	h := s.header
	s.mu.Unlock()
	assert.Equal(t, "jwt "+s.jwt, h.Get("Authorization"))
	s.mu.Lock()
	assert.Equal(t, "/ws_api/account/123/messaging/consumer?v=3", s.url, "no token in the URL")
	s.mu.Unlock()
	var props map[string]any
	require.NoError(t, json.Unmarshal([]byte(h.Get("Client-Properties")), &props))
	assert.Equal(t, ".ClientProperties", props["type"])
	assert.Equal(t, "webAsync", props["appId"])
	assert.Equal(t, "DESKTOP", props["deviceFamily"])
	assert.Equal(t, []any{"RICH_CONTENT", "MULTI_DIALOG"}, props["features"])

	resp, err := c.Request(context.Background(), "cm.ConsumerRequestConversation", map[string]string{"channelType": "MESSAGING"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"channelType":"MESSAGING"}`, string(resp.Body))
	// Nothing but the request went out: header auth sends no InitConnection.
	fr := s.received()
	require.Len(t, fr, 1)
	assert.Equal(t, "req", fr[0].RawKind)
	assert.Equal(t, resp.ReqID, fr[0].ID)
}

func TestDialInitConnection(t *testing.T) {
	s := newUMSServer(t)
	s.initGate = make(chan struct{})
	s.start()
	cfg := s.config(AuthInitConnection)
	cfg.ClientProperties = ClientProperties{DeviceFamily: DeviceMobile, OS: OSAndroid}
	type result struct {
		c   *Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := Dial(context.Background(), cfg)
		done <- result{c, err}
	}()
	require.Eventually(t, func() bool { return len(s.received()) == 1 }, 5*time.Second, 5*time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("Dial returned (%v) before InitConnection was answered", r.err)
	case <-time.After(100 * time.Millisecond):
	}
	f := s.received()[0]
	assert.Equal(t, "InitConnection", f.Type)
	assert.Equal(t, "req", f.RawKind)
	assert.NotEmpty(t, f.ID)
	assert.Nil(t, f.Body)
	var hs []map[string]any
	require.NoError(t, json.Unmarshal(f.Headers, &hs))
	require.Len(t, hs, 2)
	assert.Equal(t, ".ams.headers.ClientProperties", hs[0]["type"])
	assert.Equal(t, "MOBILE", hs[0]["deviceFamily"])
	assert.Equal(t, ".ams.headers.ConsumerAuthentication", hs[1]["type"])
	assert.Equal(t, s.jwt, hs[1]["jwt"])
	s.mu.Lock()
	assert.Empty(t, s.header.Get("Authorization"), "InitConnection mode must not send the Authorization header")
	assert.Equal(t, "/ws_api/account/123/messaging/consumer?v=3", s.url, "no token in the URL")
	s.mu.Unlock()

	close(s.initGate)
	r := <-done
	require.NoError(t, r.err)
	defer r.c.Close()
	// The server rejects anything before InitConnection's 200 with a 401,
	// so a successful request proves the order.
	_, err := r.c.Request(context.Background(), "Echo", nil)
	require.NoError(t, err)
	fr := s.received()
	require.Len(t, fr, 2)
	assert.Equal(t, "Echo", fr[1].Type)
}

func TestDialInitConnectionRefusedKeepsTokenSecret(t *testing.T) {
	s := newUMSServer(t)
	s.initCode = 403
	s.start()
	var logs bytes.Buffer
	cfg := s.config(AuthInitConnection)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err := Dial(context.Background(), cfg)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrForbidden)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "InitConnection", apiErr.RequestType)
	assert.NotContains(t, err.Error(), s.jwt)
	assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), s.jwt)
	assert.NotContains(t, logs.String(), s.jwt)
	assert.NotContains(t, logs.String(), strings.Split(s.jwt, ".")[2], "no part of the token's signature may be logged")
}

func TestDialHandshakeRefused(t *testing.T) {
	s := newUMSServer(t).start()
	cfg := s.config(AuthHeaders)
	wrong := testJWT(t, "someone-else")
	cfg.Token = mustStatic(t, wrong)
	_, err := Dial(context.Background(), cfg)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnauthorized)
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 401, he.StatusCode)
	assert.Equal(t, "asyncMessagingEnt", he.Service)
	assert.NotContains(t, err.Error(), wrong)
}

func TestDialTimeouts(t *testing.T) {
	t.Run("handshake never answered", func(t *testing.T) {
		s := newUMSServer(t)
		s.holdHandshake = make(chan struct{})
		s.start()
		defer close(s.holdHandshake)
		cfg := s.config(AuthHeaders)
		cfg.DialTimeout = 200 * time.Millisecond
		start := time.Now()
		_, err := Dial(context.Background(), cfg)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("InitConnection never answered", func(t *testing.T) {
		s := newUMSServer(t)
		s.holdInit = true
		s.start()
		cfg := s.config(AuthInitConnection)
		cfg.DialTimeout = 200 * time.Millisecond
		_, err := Dial(context.Background(), cfg)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, ErrConnectionLost)
	})
	t.Run("caller context", func(t *testing.T) {
		s := newUMSServer(t)
		s.holdInit = true
		s.start()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := Dial(ctx, s.config(AuthInitConnection))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestConfigValidation(t *testing.T) {
	tok := mustStatic(t, testJWT(t, "c"))
	base := Config{Account: "123", Domains: Domains{AsyncMessagingEnt: "va.msg.liveperson.net"}, Token: tok}
	cases := map[string]func(*Config){
		"no account":         func(c *Config) { c.Account = "" },
		"account with slash": func(c *Config) { c.Account = "1/2" },
		"no token":           func(c *Config) { c.Token = nil },
		"insecure domain API": func(c *Config) {
			c.Domains.AsyncMessagingEnt, c.DomainResolver = "", &DomainResolver{Insecure: true}
		},
		"domain with scheme":        func(c *Config) { c.Domains.AsyncMessagingEnt = "wss://va.msg.liveperson.net" },
		"insecure to a remote host": func(c *Config) { c.Insecure = true },
		"insecure to a remote idp": func(c *Config) {
			c.Insecure, c.Domains.AsyncMessagingEnt, c.Domains.IDP = true, "127.0.0.1:80", "idp.liveperson.net"
		},
		"bad enum":            func(c *Config) { c.ClientProperties.OS = "BEOS" },
		"bad feature":         func(c *Config) { c.ClientProperties.Features = []Feature{"FILE_SHARING"} },
		"long app version":    func(c *Config) { c.ClientProperties.AppVersion = strings.Repeat("1", 33) },
		"ipv6 ip address":     func(c *Config) { c.ClientProperties.IPAddress = "::1" },
		"http client timeout": func(c *Config) { c.HTTPClient = &http.Client{Timeout: time.Second} },
		"unknown auth mode":   func(c *Config) { c.Auth = 7 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := base
			mutate(&cfg)
			_, err := Dial(context.Background(), cfg)
			assert.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
	t.Run("loopback forms", func(t *testing.T) {
		for _, h := range []string{"127.0.0.1:8080", "localhost:1", "[::1]:9", "127.9.9.9"} {
			assert.True(t, isLoopback(h), h)
		}
		for _, h := range []string{"10.0.0.1:80", "va.msg.liveperson.net", "localhost.evil.com"} {
			assert.False(t, isLoopback(h), h)
		}
	})
}

func TestConcurrentRequestsCorrelated(t *testing.T) {
	s := newUMSServer(t)
	// Answer in a shuffled order, so only reqId can pair them.
	var mu sync.Mutex
	var held []*wire.Frame
	s.onRequest = func(sc *serverConn, f *wire.Frame) {
		mu.Lock()
		held = append(held, f)
		if len(held) < 20 {
			mu.Unlock()
			return
		}
		batch := held
		held = nil
		mu.Unlock()
		rand.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		for _, f := range batch {
			sc.reply(t, f, 200, "EchoResponse", string(f.Body))
		}
	}
	s.start()
	c := dial(t, s.config(AuthHeaders))
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			resp, err := c.Request(context.Background(), "Echo", map[string]int{"n": i})
			if err != nil {
				errs <- err
				return
			}
			var got struct{ N int }
			if err := resp.Decode(&got); err != nil || got.N != i {
				errs <- fmt.Errorf("request %d got %s", i, resp.Body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ids := map[string]bool{}
	for _, f := range s.received() {
		assert.False(t, ids[f.ID], "duplicate request id %s", f.ID)
		ids[f.ID] = true
	}
	assert.Len(t, ids, n)
}

func TestRequestTimeouts(t *testing.T) {
	s := newUMSServer(t)
	s.onRequest = func(sc *serverConn, f *wire.Frame) {
		if f.Type == "Late" {
			go func() {
				time.Sleep(150 * time.Millisecond)
				sc.reply(t, f, 200, "LateResponse", `{}`)
			}()
		}
		if f.Type == "Echo" {
			sc.reply(t, f, 200, "EchoResponse", `{}`)
		}
		// "Silent" is never answered.
	}
	s.start()
	cfg := s.config(AuthHeaders)
	cfg.RequestTimeout = 100 * time.Millisecond
	c := dial(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Request(ctx, "Silent", nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrConnectionLost)
	assert.Empty(t, pendingCount(c), "a timed-out request must leave no pending entry")

	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err = c.Request(ctx, "Silent", nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, pendingCount(c))

	// No deadline: Config.RequestTimeout applies.
	start := time.Now()
	_, err = c.Request(context.Background(), "Silent", nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)

	// A late answer is counted and dropped; the connection carries on.
	_, err = c.Request(context.Background(), "Late", nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	require.Eventually(t, func() bool { return c.Stats().UnmatchedResponses == 1 }, 5*time.Second, 5*time.Millisecond)
	_, err = c.Request(context.Background(), "Echo", nil)
	assert.NoError(t, err)
}

func pendingCount(c *Conn) int {
	s, err := c.current()
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

func TestAPIErrors(t *testing.T) {
	s := newUMSServer(t)
	s.onRequest = func(sc *serverConn, f *wire.Frame) {
		var code int
		fmt.Sscanf(f.Type, "Fail%d", &code)
		sc.reply(t, f, code, ".ReqBody$StringResp", `"failed on purpose"`)
	}
	s.start()
	c := dial(t, s.config(AuthHeaders))
	cases := []struct {
		code int
		want error
	}{
		{400, ErrBadRequest}, {401, ErrUnauthorized}, {403, ErrForbidden}, {404, ErrNotFound},
		{429, ErrRateLimited}, {500, ErrServerError}, {503, ErrServerError}, {409, nil},
	}
	all := []error{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrRateLimited, ErrServerError}
	for _, tc := range cases {
		_, err := c.Request(context.Background(), fmt.Sprintf("Fail%d", tc.code), nil)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, tc.code, apiErr.Code)
		assert.Equal(t, ".ReqBody$StringResp", apiErr.Type)
		assert.NotEmpty(t, apiErr.ReqID)
		assert.Contains(t, err.Error(), "failed on purpose")
		for _, s := range all {
			assert.Equal(t, s == tc.want, errors.Is(err, s), "code %d vs %v", tc.code, s)
		}
	}
	// String, object and absent bodies on success.
	s.onRequest = func(sc *serverConn, f *wire.Frame) {
		switch f.Type {
		case "Str":
			sc.reply(t, f, 200, "StringResponse", `"OK Conversation resolved successfully"`)
		case "Obj":
			sc.reply(t, f, 200, "X", `{"a":1}`)
		default:
			sc.send(t, []byte(fmt.Sprintf(`{"kind":"resp","reqId":%q,"code":200,"type":".ams.GenericSubscribeResponse"}`, f.ID)))
		}
	}
	r, err := c.Request(context.Background(), "Str", nil)
	require.NoError(t, err)
	assert.Equal(t, "OK Conversation resolved successfully", r.Text())
	r, err = c.Request(context.Background(), "Obj", nil)
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":1}`, string(r.Body))
	r, err = c.Request(context.Background(), "None", nil)
	require.NoError(t, err)
	assert.Nil(t, r.Body)
	assert.Error(t, r.Decode(&struct{}{}))
}

func TestInvalidRequestsSendNothing(t *testing.T) {
	s := newUMSServer(t).start()
	c := dial(t, s.config(AuthHeaders))
	for _, typ := range []string{"", "bad\"type", strings.Repeat("x", 200), "sp ace"} {
		_, err := c.Request(context.Background(), typ, nil)
		assert.ErrorIs(t, err, ErrInvalidRequest, typ)
	}
	_, err := c.Request(context.Background(), "X", json.RawMessage(`{bad`))
	assert.ErrorIs(t, err, ErrInvalidRequest)
	_, err = c.Request(context.Background(), "X", map[string]any{"f": func() {}})
	assert.ErrorIs(t, err, ErrInvalidRequest)
	assert.Empty(t, s.received())
}

func TestConnectionLost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(*serverConn)
		check func(t *testing.T, err error)
	}{
		{"dropped", func(sc *serverConn) { sc.ws.CloseNow() }, func(t *testing.T, err error) {}},
		{"4401", func(sc *serverConn) { sc.ws.Close(4401, "token expired") }, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, ErrTokenExpired)
			var ce *CloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, 4401, ce.Code)
		}},
		{"4407", func(sc *serverConn) { sc.ws.Close(4407, "") }, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, ErrIdentityExpired)
		}},
		{"1011", func(sc *serverConn) { sc.ws.Close(websocket.StatusInternalError, "") }, func(t *testing.T, err error) {
			var ce *CloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, 1011, ce.Code)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newUMSServer(t)
			s.onRequest = func(sc *serverConn, f *wire.Frame) {
				if f.Type == "Hang" {
					go tc.close(sc)
				}
			}
			s.start()
			states := make(chan StateChange, 10)
			cfg := s.config(AuthHeaders)
			cfg.OnStateChange = func(sc StateChange) { states <- sc }
			cfg.MaxReconnects = -1 // the loss is final
			c := dial(t, cfg)
			_, err := c.Request(context.Background(), "Hang", nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrConnectionLost)
			assert.ErrorIs(t, err, ErrOutcomeUnknown, "the request was written before the drop")
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
			var le *ConnectionLostError
			require.ErrorAs(t, err, &le)
			assert.True(t, le.Sent)
			assert.Equal(t, "Hang", le.RequestType)
			tc.check(t, err)

			require.Eventually(t, func() bool { return c.State() == StateFailed }, 5*time.Second, 5*time.Millisecond)
			_, err = c.Request(context.Background(), "Echo", nil)
			assert.ErrorIs(t, err, ErrConnectionLost)
			assert.NotErrorIs(t, err, ErrOutcomeUnknown, "a request never sent has a known outcome")
			// Observed states: connecting, ready, failed (with the cause).
			want := []State{StateConnecting, StateReady, StateFailed}
			for _, w := range want {
				select {
				case sc := <-states:
					assert.Equal(t, w, sc.State)
					if w == StateFailed {
						assert.Error(t, sc.Err)
						tc.check(t, sc.Err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("no %v state change", w)
				}
			}
		})
	}
}

func TestRequestAfterClose(t *testing.T) {
	s := newUMSServer(t).start()
	var mu sync.Mutex
	var states []State
	cfg := s.config(AuthHeaders)
	cfg.OnStateChange = func(sc StateChange) { mu.Lock(); states = append(states, sc.State); mu.Unlock() }
	c := dial(t, cfg)
	require.NoError(t, c.Close())
	mu.Lock()
	assert.Equal(t, []State{StateConnecting, StateReady, StateClosed}, states, "Close delivers closed, last, before it returns")
	mu.Unlock()
	require.NoError(t, c.Close(), "Close is idempotent")
	_, err := c.Request(context.Background(), "Echo", nil)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = c.Subscribe("X", func(*Notification) {})
	assert.ErrorIs(t, err, ErrClosed)
	assert.Equal(t, StateClosed, c.State())
}

func TestCloseDuringInFlightRequests(t *testing.T) {
	s := newUMSServer(t)
	s.onRequest = func(*serverConn, *wire.Frame) {} // never answer
	s.start()
	c := dial(t, s.config(AuthHeaders))
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.Request(context.Background(), "Hang", nil)
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return len(s.received()) == n }, 5*time.Second, 5*time.Millisecond)
	start := time.Now()
	require.NoError(t, c.Close())
	assert.Less(t, time.Since(start), 3*time.Second, "Close is bounded")
	for range n {
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("a request did not return after Close")
		}
	}
	assert.Empty(t, leakcheck.Find(leakcheck.SDK), "no SDK goroutine may outlive Close")
}

func TestCloseBoundedWhenPeerIgnoresCloseFrame(t *testing.T) {
	s := newUMSServer(t)
	block := make(chan struct{})
	s.onRequest = func(*serverConn, *wire.Frame) { <-block } // the server stops reading
	s.start()
	defer close(block)
	cfg := s.config(AuthHeaders)
	cfg.CloseTimeout = 100 * time.Millisecond
	c := dial(t, cfg)
	go c.Request(context.Background(), "Block", nil)
	require.Eventually(t, func() bool { return len(s.received()) == 1 }, 5*time.Second, 5*time.Millisecond)
	start := time.Now()
	c.Close()
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Empty(t, leakcheck.Find(leakcheck.SDK))
}
