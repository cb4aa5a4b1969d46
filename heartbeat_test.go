package lpwindow

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow/internal/wire"
)

// pipeConfig returns a Config that reaches s over in-memory pipes, for use
// inside a synctest bubble.
func pipeConfig(t *testing.T, s *umsServer) Config {
	return Config{
		Account:    "123",
		Domains:    Domains{AsyncMessagingEnt: "127.0.0.1:1"},
		Insecure:   true,
		Token:      mustStatic(t, s.jwt),
		HTTPClient: &http.Client{Transport: pipeTransport{h: s}},
	}
}

func TestHeartbeatDetectsHalfOpenSocket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newUMSServer(t)
		s.answerClock = false // the socket stays open but nothing answers
		var mu sync.Mutex
		var states []StateChange
		cfg := pipeConfig(t, s)
		cfg.OnStateChange = func(sc StateChange) { mu.Lock(); states = append(states, sc); mu.Unlock() }
		cfg.MaxReconnects = -1 // see what the heartbeat did, not the reconnection
		c, err := Dial(context.Background(), cfg)
		require.NoError(t, err)

		// Defaults: a GetClock every 30s, 10s to answer it.
		time.Sleep(39 * time.Second)
		synctest.Wait()
		assert.Equal(t, StateReady, c.State(), "still within the heartbeat deadline")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Equal(t, StateFailed, c.State())
		_, err = c.Request(context.Background(), "Echo", nil)
		assert.ErrorIs(t, err, ErrConnectionLost)
		assert.ErrorIs(t, err, ErrHeartbeatTimeout)

		mu.Lock()
		last := states[len(states)-1]
		mu.Unlock()
		assert.Equal(t, StateFailed, last.State)
		assert.ErrorIs(t, last.Err, ErrHeartbeatTimeout)
		frames := s.received()
		require.Len(t, frames, 1)
		assert.Equal(t, "GetClock", frames[0].Type)
		c.Close()
		s.close()
	})
}

func TestHeartbeatKeepsAliveAndMeasuresClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newUMSServer(t)
		cfg := pipeConfig(t, s)
		cfg.HeartbeatInterval = 5 * time.Second
		c, err := Dial(context.Background(), cfg)
		require.NoError(t, err)
		_, known := c.ClockOffset()
		assert.False(t, known)

		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, StateReady, c.State())
		n := 0
		for _, f := range s.received() {
			if f.Type == "GetClock" {
				n++
			}
		}
		assert.Equal(t, 720, n, "one GetClock every 5s for an hour")
		off, known := c.ClockOffset()
		assert.True(t, known)
		// The fake server's clock is the bubble's: the offset is within a ms
		// (the server sends milliseconds).
		assert.InDelta(t, 0, off.Seconds(), 0.001)
		c.Close()
		s.close()
	})
}

func TestHeartbeatAPIErrorMeansAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newUMSServer(t)
		s.clockCode = 500 // the server answers, with an error: it is alive
		cfg := pipeConfig(t, s)
		cfg.HeartbeatInterval = time.Second
		c, err := Dial(context.Background(), cfg)
		require.NoError(t, err)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		assert.Equal(t, StateReady, c.State())
		assert.Len(t, s.received(), 30)
		c.Close()
		s.close()
	})
}

func TestSyncClock(t *testing.T) {
	s := newUMSServer(t).start()
	c := dial(t, s.config(AuthHeaders))
	off, err := c.SyncClock(context.Background())
	require.NoError(t, err)
	assert.Less(t, off.Abs(), time.Second)
	got, known := c.ClockOffset()
	assert.True(t, known)
	assert.Equal(t, off, got)
}

func TestDebugLogsNeverShowTheToken(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	h := slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})
	for _, mode := range []AuthMode{AuthHeaders, AuthInitConnection} {
		s := newUMSServer(t)
		s.onRequest = func(sc *serverConn, f *wire.Frame) {
			sc.reply(t, f, 401, ".ReqBody$StringResp", `"nope"`)
			sc.ws.Close(4401, "expired")
		}
		s.start()
		cfg := s.config(mode)
		cfg.Logger = slog.New(h)
		c := dial(t, cfg)
		_, err := c.Request(context.Background(), "Fail", nil)
		require.Error(t, err)
		require.Eventually(t, func() bool { return c.State() == StateDisconnected }, 5*time.Second, time.Millisecond)
		_, err2 := c.Request(context.Background(), "Fail", nil)
		c.Close()
		tok, _ := ParseToken(s.jwt)
		for _, text := range []string{err.Error(), err2.Error(), tok.String(), slogText(tok)} {
			assert.NotContains(t, text, s.jwt)
		}
		mu.Lock()
		out := logs.String()
		mu.Unlock()
		assert.NotEmpty(t, out)
		for _, part := range strings.Split(s.jwt, ".") {
			assert.NotContains(t, out, part, "the logs show part of the token")
		}
	}
}

func slogText(v any) string {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "token", v)
	return b.String()
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestHeartbeatFailureReconnects: a half-open socket takes the same path
// as a dropped one: the Conn reconnects.
func TestHeartbeatFailureReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newUMSServer(t)
		s.answerClock = false
		var mu sync.Mutex
		var states []StateChange
		cfg := pipeConfig(t, s)
		cfg.OnStateChange = func(sc StateChange) { mu.Lock(); states = append(states, sc); mu.Unlock() }
		c, err := Dial(context.Background(), cfg)
		require.NoError(t, err)
		time.Sleep(41 * time.Second) // 30 s interval + 10 s timeout, then a jittered wait under 1 s
		synctest.Wait()
		assert.Equal(t, StateReady, c.State())
		assert.EqualValues(t, 1, c.Stats().Reconnects)
		c.Close()
		mu.Lock()
		defer mu.Unlock()
		var causes []error
		for _, sc := range states {
			if sc.State == StateDisconnected {
				causes = append(causes, sc.Err)
			}
		}
		require.Len(t, causes, 1)
		assert.ErrorIs(t, causes[0], ErrHeartbeatTimeout)
		s.close()
	})
}
