package lpwindow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// agentTexts reads n agent texts, failing on a duplicate, a gap or an
// error; it returns them in order.
func agentTexts(t *testing.T, cv *lpwindow.Conversation, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		ev, err := cv.Next(tctx(t))
		require.NoError(t, err, "after %d of %d", len(got), n)
		require.NotEqual(t, lpwindow.KindGap, ev.Kind, "no gap expected: %+v", ev)
		if lpwindow.IsAgentText(ev) {
			got = append(got, ev.Message.Event.Text)
		}
	}
	return got
}

// onServer waits until the fake has c's socket, so that a fault hits it.
func onServer(t *testing.T, s *lpwindowtest.Server, c *lpwindow.Conn) string {
	t.Helper()
	require.Eventually(t, func() bool { return s.Connections(c.ConsumerID()) > 0 }, 5*time.Second, time.Millisecond)
	return c.ConsumerID()
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

// TestReconnectResumesConversation: the socket goes away (dropped, or
// closed because the token expired: 4401 authenticated, 4407
// unauthenticated); messages sent while it is away arrive once, in order,
// on the same conversation.
func TestReconnectResumesConversation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token func(s *lpwindowtest.Server, b *brand) lpwindow.TokenSource
		fault func(s *lpwindowtest.Server, consumer string)
		cause error
	}{
		{"drop", func(*lpwindowtest.Server, *brand) lpwindow.TokenSource { return lpwindow.Signup() },
			func(s *lpwindowtest.Server, id string) { s.DropConnections(id) }, nil},
		{"4401 implicit flow", func(_ *lpwindowtest.Server, b *brand) lpwindow.TokenSource {
			return lpwindow.ImplicitFlow(b.idToken("customer"))
		},
			func(s *lpwindowtest.Server, id string) { s.ExpireTokens(id) }, lpwindow.ErrTokenExpired},
		{"4407 anonymous flow", func(*lpwindowtest.Server, *brand) lpwindow.TokenSource { return lpwindow.AnonymousFlow("acr0") },
			func(s *lpwindowtest.Server, id string) { s.ExpireTokens(id) }, lpwindow.ErrIdentityExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFake(t, lpwindowtest.Options{})
			b := newBrand(t, s)
			var mu sync.Mutex
			var states []lpwindow.StateChange
			c := dialOn(t, s, func(cfg *lpwindow.Config) {
				cfg.Token = tc.token(s, b)
				cfg.OnStateChange = func(sc lpwindow.StateChange) { mu.Lock(); states = append(states, sc); mu.Unlock() }
			})
			me := c.ConsumerID()
			ctx := tctx(t)
			cv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
			require.NoError(t, err)
			a := s.NewAgent("A")
			require.NoError(t, a.Join(cv.ID()))
			for _, m := range numbered("before", 0, 5) {
				_, err := a.SendText(cv.ID(), m)
				require.NoError(t, err)
			}
			assert.Equal(t, numbered("before", 0, 5), agentTexts(t, cv, 5))

			tc.fault(s, onServer(t, s, c))
			require.Eventually(t, func() bool { return c.State() != lpwindow.StateReady }, 5*time.Second, time.Millisecond)
			for _, m := range numbered("during", 0, 5) {
				_, err := a.SendText(cv.ID(), m)
				require.NoError(t, err)
			}
			_, err = cv.SendText(ctx, "consumer after the drop") // waits for the new session
			require.NoError(t, err)
			for _, m := range numbered("after", 0, 5) {
				_, err := a.SendText(cv.ID(), m)
				require.NoError(t, err)
			}
			want := append(numbered("during", 0, 5), numbered("after", 0, 5)...)
			assert.Equal(t, want, agentTexts(t, cv, 10))
			assert.Equal(t, me, c.ConsumerID(), "the same consumer")
			assert.EqualValues(t, 1, c.Stats().Reconnects)

			mine := 0
			for _, e := range s.Events(cv.ID(), "") {
				if strings.Contains(string(e.Event), "consumer after the drop") {
					mine++
				}
			}
			assert.Equal(t, 1, mine, "published once")

			// StateReady is announced after the resubscriptions, on the
			// callback goroutine: wait for it.
			require.Eventually(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return states[len(states)-1].State == lpwindow.StateReady
			}, 5*time.Second, 5*time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			var sawCause bool
			for _, sc := range states {
				if sc.State == lpwindow.StateDisconnected {
					require.Error(t, sc.Err)
					sawCause = sawCause || tc.cause == nil || assert.ErrorIs(t, sc.Err, tc.cause)
					assert.Equal(t, 1, sc.Attempt)
				}
			}
			assert.True(t, sawCause)
			last := states[len(states)-1]
			assert.Equal(t, lpwindow.StateReady, last.State)
			assert.Equal(t, 1, last.Attempt)
		})
	}
}

func TestRequestWrittenBeforeTheDropHasUnknownOutcome(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	c := dialOn(t, s, func(cfg *lpwindow.Config) { cfg.Token = lpwindow.Signup() })
	ctx := tctx(t)
	cv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
	require.NoError(t, err)
	s.DelayResponses(lpwindow.TypePublishEvent, 500*time.Millisecond)
	errc := make(chan error, 1)
	go func() { _, err := cv.SendText(ctx, "in flight"); errc <- err }()
	_, err = s.WaitFrame(ctx, func(f lpwindowtest.Frame) bool {
		return f.Direction == lpwindowtest.In && strings.Contains(string(f.Data), "in flight")
	})
	require.NoError(t, err)
	s.DropConnections(onServer(t, s, c))
	err = <-errc
	assert.ErrorIs(t, err, lpwindow.ErrOutcomeUnknown)
	assert.ErrorIs(t, err, lpwindow.ErrConnectionLost)
	s.DelayResponses(lpwindow.TypePublishEvent, 0)
	// The SDK did not resend it: after the reconnection, the server still
	// holds at most one (here: the server carried it out once).
	_, err = cv.SendText(ctx, "next")
	require.NoError(t, err)
	n := 0
	for _, e := range s.Events(cv.ID(), "") {
		if strings.Contains(string(e.Event), "in flight") {
			n++
		}
	}
	assert.LessOrEqual(t, n, 1)
}

func TestFailFast(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	c := dialOn(t, s, func(cfg *lpwindow.Config) {
		cfg.Token, cfg.FailFast, cfg.ReconnectWait = lpwindow.Signup(), true, time.Second
	})
	s.DropConnections(onServer(t, s, c))
	require.Eventually(t, func() bool { return c.State() != lpwindow.StateReady }, 5*time.Second, time.Millisecond)
	start := time.Now()
	_, err := c.SyncClock(tctx(t))
	assert.ErrorIs(t, err, lpwindow.ErrConnectionLost)
	assert.NotErrorIs(t, err, lpwindow.ErrOutcomeUnknown)
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	require.Eventually(t, func() bool { return c.State() == lpwindow.StateReady }, 10*time.Second, 5*time.Millisecond)
	_, err = c.SyncClock(tctx(t))
	assert.NoError(t, err, "and it reconnected")
}

func TestWaitingRequestsAreBounded(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	c := dialOn(t, s, func(cfg *lpwindow.Config) {
		cfg.Token, cfg.MaxWaitingRequests, cfg.ReconnectWait = lpwindow.Signup(), 2, time.Hour
	})
	s.DropConnections(onServer(t, s, c))
	require.Eventually(t, func() bool { return c.State() == lpwindow.StateDisconnected }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	errs := make(chan error, 3)
	for range 3 {
		go func() { _, err := c.SyncClock(ctx); errs <- err }()
	}
	var full, timedOut int
	for range 3 {
		err := <-errs
		require.ErrorIs(t, err, lpwindow.ErrConnectionLost)
		if strings.Contains(err.Error(), "MaxWaitingRequests") {
			full++
		} else if assert.ErrorIs(t, err, context.DeadlineExceeded) {
			timedOut++
		}
	}
	assert.Equal(t, 1, full, "the third caller is refused at once")
	assert.Equal(t, 2, timedOut, "two waited until their deadline")
}

func TestCloseInterruptsBackoff(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	delays := make(chan time.Duration, 10)
	c := dialOn(t, s, func(cfg *lpwindow.Config) {
		cfg.Token, cfg.ReconnectWait = lpwindow.Signup(), time.Hour
		cfg.OnStateChange = func(sc lpwindow.StateChange) {
			if sc.State == lpwindow.StateDisconnected {
				delays <- sc.Delay
			}
		}
	})
	s.DropConnections(onServer(t, s, c))
	d := <-delays
	if d < 100*time.Millisecond {
		t.Skipf("the jittered delay came out at %v; nothing to interrupt", d)
	}
	start := time.Now()
	require.NoError(t, c.Close())
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, lpwindow.StateClosed, c.State())
}

func TestGivesUpAfterMaxReconnects(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	var mu sync.Mutex
	var states []lpwindow.StateChange
	signup := lpwindow.Signup().WithIDP(idpOf(s))
	var down atomic.Bool
	c := dialOn(t, s, func(cfg *lpwindow.Config) {
		// The identity provider goes down (a transient failure, retried).
		cfg.Token = lpwindow.TokenFunc(func(ctx context.Context) (lpwindow.Token, error) {
			if down.Load() {
				return lpwindow.Token{}, errors.New("idp unreachable")
			}
			return signup.Token(ctx)
		})
		cfg.MaxReconnects = 3
		cfg.OnStateChange = func(sc lpwindow.StateChange) { mu.Lock(); states = append(states, sc); mu.Unlock() }
	})
	down.Store(true)
	s.DropConnections(onServer(t, s, c))
	require.Eventually(t, func() bool { return c.State() == lpwindow.StateFailed }, 10*time.Second, 5*time.Millisecond)
	_, err := c.SyncClock(tctx(t))
	assert.ErrorIs(t, err, lpwindow.ErrConnectionLost)
	assert.ErrorContains(t, err, "gave up after 3 reconnection attempts")
	assert.EqualValues(t, 3, c.Stats().ReconnectAttempts)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states) > 0 && states[len(states)-1].State == lpwindow.StateFailed
	}, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	var attempts []int
	for _, sc := range states {
		if sc.State == lpwindow.StateDisconnected {
			attempts = append(attempts, sc.Attempt)
			assert.Error(t, sc.Err)
			assert.LessOrEqual(t, sc.Delay, 20*time.Millisecond<<(sc.Attempt-1), "full jitter under the doubling ceiling")
		}
	}
	assert.Equal(t, []int{1, 2, 3}, attempts)
}

func TestRefusedIdentityIsFinal(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	var n atomic.Int64
	errs := make(chan error, 10)
	c := dialOn(t, s, func(cfg *lpwindow.Config) {
		cfg.Token = lpwindow.CodeFlow(func(context.Context) (string, error) {
			code := fmt.Sprintf("code-%d", n.Add(1))
			if n.Load() == 1 { // the brand gives one good code, then stale ones
				s.RegisterAuthCode(code, lpwindowtest.ExternalIdentity{Sub: "x", Iss: "https://brand.example"})
			}
			return code, nil
		})
		cfg.OnError = func(err error) { errs <- err }
	})
	before := s.IDPCalls()
	s.ExpireTokens(onServer(t, s, c))
	require.Eventually(t, func() bool { return c.State() == lpwindow.StateFailed }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	assert.EqualValues(t, 1, s.IDPCalls()-before, "a refusal is not retried in a loop")
	_, err := c.SyncClock(tctx(t))
	assert.ErrorIs(t, err, lpwindow.ErrIdentityRefused)
	var last error
	for len(errs) > 0 {
		last = <-errs
	}
	assert.ErrorIs(t, last, lpwindow.ErrIdentityRefused, "the app is told")
}

func TestStaticTokenRefusedAfterExpiryIsFinal(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	jwtText, id, err := s.IssueToken()
	require.NoError(t, err)
	ts, err := lpwindow.StaticToken(jwtText)
	require.NoError(t, err)
	c := dialOn(t, s, func(cfg *lpwindow.Config) { cfg.Token = ts })
	onServer(t, s, c)
	s.ExpireTokens(id)
	require.Eventually(t, func() bool { return c.State() == lpwindow.StateFailed }, 10*time.Second, 5*time.Millisecond)
	_, err = c.SyncClock(tctx(t))
	assert.ErrorIs(t, err, lpwindow.ErrUnauthorized, "the handshake refused the old token")
	assert.LessOrEqual(t, c.Stats().ReconnectAttempts, uint64(1))
}

func TestSafeRequestsRetriedAfter429(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	c := dialOn(t, s, func(cfg *lpwindow.Config) { cfg.Token = lpwindow.Signup() })
	ctx := tctx(t)
	s.FailRequests(lpwindow.TypeSubscribeMessagingEvents, 429, 1)
	start := time.Now()
	cv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
	require.NoError(t, err, "the subscription was retried")
	assert.GreaterOrEqual(t, time.Since(start), lpwindow.RateLimitPause, "after at least a second")

	s.FailRequests(lpwindow.TypePublishEvent, 503, 1)
	_, err = cv.SendText(ctx, "not resent")
	assert.ErrorIs(t, err, lpwindow.ErrServerError, "a publish is never resent by the SDK")
	s.FailRequests(lpwindow.TypePublishEvent, 400, 1)
	_, err = cv.SendText(ctx, "bad")
	assert.ErrorIs(t, err, lpwindow.ErrBadRequest)
	s.FailRequests("GetClock", 500, 1)
	_, err = c.SyncClock(ctx)
	assert.NoError(t, err, "5xx on a safe request follows Config.Retry")
}

// TestResumeAfterRestart: a process exports the resume state, a new one
// continues from it without seeing again what was handled.
func TestResumeAfterRestart(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	jwtText, _, err := s.IssueToken()
	require.NoError(t, err)
	ts, err := lpwindow.StaticToken(jwtText)
	require.NoError(t, err)
	ctx := tctx(t)

	first := dialOn(t, s, func(cfg *lpwindow.Config) { cfg.Token = ts })
	cv, err := first.OpenConversation(ctx, lpwindow.ConversationOptions{})
	require.NoError(t, err)
	a := s.NewAgent("A")
	require.NoError(t, a.Join(cv.ID()))
	for _, m := range numbered("m", 0, 6) {
		_, err := a.SendText(cv.ID(), m)
		require.NoError(t, err)
	}
	assert.Equal(t, numbered("m", 0, 3), agentTexts(t, cv, 3)) // handled 3 of 6, then "crashes"
	saved, err := json.Marshal(cv.ResumeState())
	require.NoError(t, err)
	first.Close()

	var st lpwindow.ResumeState
	require.NoError(t, json.Unmarshal(saved, &st))
	second := dialOn(t, s, func(cfg *lpwindow.Config) { cfg.Token = ts })
	cv2, err := second.OpenConversation(ctx, lpwindow.ConversationOptions{Resume: &st})
	require.NoError(t, err)
	assert.Equal(t, cv.ID(), cv2.ID())
	assert.Equal(t, numbered("m", 3, 6), agentTexts(t, cv2, 3), "only what was not handled")

	_, err = second.OpenConversation(ctx, lpwindow.ConversationOptions{Resume: &lpwindow.ResumeState{ConversationID: ""}})
	assert.ErrorIs(t, err, lpwindow.ErrInvalidRequest)
}

// TestSignupIdentityReplacedAfter4407: signing up again makes a new
// consumer, who cannot follow the old conversation: the app is told, and
// the Conn does not loop on a resubscription the server refuses.
func TestSignupIdentityReplacedAfter4407(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	errs := make(chan error, 16)
	c := dialOn(t, s, func(cfg *lpwindow.Config) {
		cfg.Token = lpwindow.Signup()
		cfg.OnError = func(err error) { errs <- err }
	})
	old := c.ConsumerID()
	_, err := c.OpenConversation(tctx(t), lpwindow.ConversationOptions{})
	require.NoError(t, err)
	s.ExpireTokens(onServer(t, s, c))
	var told error
	require.Eventually(t, func() bool {
		for len(errs) > 0 {
			if err := <-errs; strings.Contains(err.Error(), "can no longer be followed") {
				told = err
			}
		}
		return told != nil && c.State() == lpwindow.StateReady
	}, 10*time.Second, 10*time.Millisecond)
	assert.NotEqual(t, old, c.ConsumerID(), "a new consumer")
	time.Sleep(300 * time.Millisecond)
	assert.EqualValues(t, 1, c.Stats().Reconnects, "no reconnection loop")
}
