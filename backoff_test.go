package lpwindow

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoffBounds(t *testing.T) {
	c := &Conn{cfg: Config{ReconnectWait: 100 * time.Millisecond, MaxReconnectWait: time.Second}}
	for n := 1; n <= 10; n++ {
		ceiling := min(100*time.Millisecond<<(n-1), time.Second)
		for range 200 {
			d := c.backoff(n, nil)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, ceiling, "attempt %d", n)
		}
	}
	for range 200 {
		d := c.backoff(1, &APIError{Code: 429})
		require.GreaterOrEqual(t, d, RateLimitPause, "a 429 waits at least a second")
		require.Less(t, d, 2*RateLimitPause)
	}
}

// TestReconnectAttemptsResetAfterAStableSession: attempts count up while
// sessions die young, and start again after one that stayed up ten times
// ReconnectWait.
func TestReconnectAttemptsResetAfterAStableSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newUMSServer(t)
		var mu sync.Mutex
		var attempts []int
		cfg := pipeConfig(t, s)
		cfg.HeartbeatInterval = -1
		cfg.ReconnectWait = time.Second
		cfg.OnStateChange = func(sc StateChange) {
			if sc.State == StateDisconnected {
				mu.Lock()
				attempts = append(attempts, sc.Attempt)
				mu.Unlock()
			}
		}
		c, err := Dial(context.Background(), cfg)
		require.NoError(t, err)
		drop := func(i int) {
			_ = s.conn(i).ws.CloseNow()
			time.Sleep(5 * time.Second) // longer than any first or second backoff
			synctest.Wait()
			require.Equal(t, StateReady, c.State())
		}
		drop(0) // young: attempt 1
		drop(1) // the session lived 5 s < 10 s: attempt 2
		time.Sleep(20 * time.Second)
		drop(2) // stable: attempt 1 again
		c.Close()
		s.close()
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []int{1, 2, 1}, attempts)
	})
}
