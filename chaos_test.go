package lpwindow_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/internal/leakcheck"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

// TestChaos: 100 consumers, each in its own conversation, while agents
// send 50 messages to each and each consumer sends 20; meanwhile the server
// drops sockets at random intervals, closes some with 4401/4407 (their
// tokens expire) or 1011, answers some requests with 429, and duplicates
// and reorders notifications. Every agent message must reach its consumer
// exactly once and in order; every consumer publish must end acknowledged
// or with an error, and the server must hold no duplicate of any; no SDK
// goroutine may outlive Close.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	const (
		consumers     = 100
		agentMessages = 50
		consumerSends = 20
	)
	start := time.Now()
	s := newFake(t, lpwindowtest.Options{})
	b := newBrand(t, s)
	s.SetNotificationFaults(lpwindowtest.NotificationFaults{Duplicate: 0.05, Reorder: 0.05, Seed: 7})

	type consumer struct {
		c        *lpwindow.Conn
		cv       *lpwindow.Conversation
		id       string
		got      []string
		gaps     int
		acked    []string // texts whose publish succeeded
		failed   []string // texts whose publish failed (any error)
		unknown  int      // of which with an unknown outcome
		readErr  error
		received chan struct{}
		agent    *lpwindowtest.Agent
	}
	var states atomic.Int64
	cs := make([]*consumer, consumers)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()

	// Connect everyone: half authenticated (4401 on expiry), half ACR0
	// anonymous (4407).
	var wg sync.WaitGroup
	var setupErr atomic.Pointer[error]
	for i := range consumers {
		wg.Go(func() {
			var token lpwindow.TokenSource = lpwindow.AnonymousFlow("acr0")
			if i%2 == 0 {
				token = lpwindow.ImplicitFlow(b.idToken(fmt.Sprintf("customer-%d", i)))
			}
			cfg := s.Config(token)
			cfg.ReconnectWait = 50 * time.Millisecond
			cfg.MaxReconnectWait = 500 * time.Millisecond
			cfg.Retry = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
			cfg.OnStateChange = func(lpwindow.StateChange) { states.Add(1) }
			c, err := lpwindow.Dial(ctx, cfg)
			if err != nil {
				setupErr.Store(&err)
				return
			}
			cv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{New: true})
			if err != nil {
				c.Close()
				setupErr.Store(&err)
				return
			}
			cs[i] = &consumer{c: c, cv: cv, id: c.ConsumerID(), received: make(chan struct{})}
		})
	}
	wg.Wait()
	if p := setupErr.Load(); p != nil {
		for _, k := range cs {
			if k != nil {
				k.c.Close()
			}
		}
		require.NoError(t, *p)
	}
	defer func() {
		for _, k := range cs {
			k.c.Close()
		}
	}()
	for _, k := range cs {
		k.agent = s.NewAgent("agent")
		require.NoError(t, k.agent.Join(k.cv.ID()))
	}
	setup := time.Since(start)

	// Readers: each consumer reads until it has every agent message.
	var readers sync.WaitGroup
	for _, k := range cs {
		readers.Go(func() {
			defer close(k.received)
			for len(k.got) < agentMessages {
				ev, err := k.cv.Next(ctx)
				if err != nil {
					k.readErr = err
					return
				}
				switch {
				case ev.Kind == lpwindow.KindGap:
					k.gaps++
				case lpwindow.IsAgentText(ev):
					k.got = append(k.got, ev.Message.Event.Text)
				}
			}
		})
	}

	// Chaos: every 0.2-2 s, a tenth of the consumers lose their socket.
	stopChaos := make(chan struct{})
	var drops, expiries, closes, throttles atomic.Int64
	var chaos sync.WaitGroup
	chaos.Go(func() {
		rnd := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stopChaos:
				return
			case <-time.After(200*time.Millisecond + time.Duration(rnd.Int64N(int64(1800*time.Millisecond)))):
			}
			for range consumers / 10 {
				k := cs[rnd.IntN(consumers)]
				switch r := rnd.Float64(); {
				case r < 0.6:
					drops.Add(int64(s.DropConnections(k.id)))
				case r < 0.8:
					s.ExpireTokens(k.id) // 4401 or 4407, by the identity
					expiries.Add(1)
				default:
					closes.Add(int64(s.CloseConnections(k.id, 1011, "restart")))
				}
			}
			switch rnd.IntN(3) {
			case 0:
				s.FailRequests(lpwindow.TypePublishEvent, 429, 3)
			case 1:
				s.FailRequests(lpwindow.TypeSubscribeMessagingEvents, 429, 3)
			default:
				s.FailRequests(lpwindow.TypeSubscribeExConversations, 429, 2)
			}
			throttles.Add(1)
		}
	})

	// Agents and consumers talk at once.
	var talk sync.WaitGroup
	for _, k := range cs {
		talk.Go(func() {
			for i := range agentMessages {
				if _, err := k.agent.SendText(k.cv.ID(), fmt.Sprintf("agent %d", i)); err != nil {
					t.Errorf("agent send: %v", err)
					return
				}
				time.Sleep(300 * time.Millisecond)
			}
		})
		talk.Go(func() {
			for i := range consumerSends {
				text := fmt.Sprintf("consumer %s %d", k.id[:8], i)
				pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := k.cv.SendText(pctx, text)
				pcancel()
				if err != nil {
					k.failed = append(k.failed, text)
					if errors.Is(err, lpwindow.ErrOutcomeUnknown) {
						k.unknown++
					}
				} else {
					k.acked = append(k.acked, text)
				}
				time.Sleep(700 * time.Millisecond)
			}
		})
	}
	talk.Wait()
	close(stopChaos)
	chaos.Wait()
	s.SetNotificationFaults(lpwindowtest.NotificationFaults{})
	readers.Wait()
	elapsed := time.Since(start)

	// Every agent message exactly once, in order, no gap.
	want := numbered("agent", 0, agentMessages)
	var acked, failed, unknown, reconnects, attempts, retried int
	for _, k := range cs {
		require.NoError(t, k.readErr, "consumer %s stopped reading after %d messages", k.id, len(k.got))
		require.Equal(t, want, k.got, "consumer %s", k.id)
		assert.Zero(t, k.gaps, "the server could fill every hole")
		acked += len(k.acked)
		failed += len(k.failed)
		unknown += k.unknown
		st := k.c.Stats()
		reconnects += int(st.Reconnects)
		attempts += int(st.ReconnectAttempts)
		retried += int(st.ReconnectAttempts - st.Reconnects)

		// The server holds each consumer text at most once, and each
		// acknowledged one exactly once.
		held := map[string]int{}
		for _, e := range s.Events(k.cv.ID(), "") {
			if i := strings.Index(string(e.Event), `"consumer `); i >= 0 {
				text := string(e.Event)[i+1:]
				text = text[:strings.IndexByte(text, '"')]
				held[text]++
			}
		}
		for text, n := range held {
			assert.Equal(t, 1, n, "duplicate of %q on the server", text)
		}
		for _, text := range k.acked {
			assert.Equal(t, 1, held[text], "acknowledged %q not held once", text)
		}
		assert.Equal(t, consumerSends, len(k.acked)+len(k.failed), "every publish ended")
	}

	// Close everyone: nothing of the SDK may be left running.
	for _, k := range cs {
		k.c.Close()
	}
	left := leakcheck.Find(leakcheck.SDK)
	assert.Empty(t, left, "goroutines outlived Close")
	t.Logf("chaos: %d consumers, %d agent messages delivered exactly once in order; consumer publishes %d acknowledged, %d failed (%d with unknown outcome); faults: %d drops, %d token expiries (4401/4407), %d 1011 closes, %d 429 bursts; %d reconnections after %d attempts (%d failed attempts), %d state events; setup %v, total %v",
		consumers, consumers*agentMessages, acked, failed, unknown, drops.Load(), expiries.Load(), closes.Load(), throttles.Load(),
		reconnects, attempts, retried, states.Load(), setup.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	assert.Less(t, elapsed, 90*time.Second)
}
