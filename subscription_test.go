package lpwindow

import (
	"context"
	"encoding/json"
	"fmt"
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

// collector gathers notification bodies in arrival order.
type collector struct {
	mu  sync.Mutex
	got []string
}

func (c *collector) add(n *Notification) {
	c.mu.Lock()
	c.got = append(c.got, string(n.Body))
	c.mu.Unlock()
}

func (c *collector) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func seqBody(i int) string { return fmt.Sprintf(`{"n":%d}`, i) }

func TestSubscriptionsOrderFilterAndTypes(t *testing.T) {
	s := newUMSServer(t).start()
	c := dial(t, s.config(AuthHeaders))

	var meta, all, odd collector
	_, err := c.Subscribe("cqm.ExConversationChangeNotification", meta.add)
	require.NoError(t, err)
	_, err = c.Subscribe("", all.add)
	require.NoError(t, err)
	_, err = c.Subscribe("ms.MessagingEventNotification", odd.add, WithFilter(func(n *Notification) bool {
		var b struct{ N int }
		return n.Decode(&b) == nil && b.N%2 == 1
	}))
	require.NoError(t, err)

	sc := s.conn(0)
	sc.notify(t, "cqm.ExConversationChangeNotification", seqBody(0))
	sc.notify(t, "aam.ExConversationChangeNotification", seqBody(1)) // same notification, other prefix
	for i := range 100 {
		sc.notify(t, "ms.MessagingEventNotification", seqBody(i))
	}
	sc.notify(t, "Some.UnknownNotification", `{"x":1}`)

	require.Eventually(t, func() bool { return len(all.all()) == 103 && len(odd.all()) == 50 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{seqBody(0), seqBody(1)}, meta.all())
	var want []string
	for i := 1; i < 100; i += 2 {
		want = append(want, seqBody(i))
	}
	assert.Equal(t, want, odd.all(), "filtered, in order")
	assert.Equal(t, `{"x":1}`, all.all()[102], "unknown types still reach catch-all subscribers")
}

func TestUnroutedNotificationsAreCounted(t *testing.T) {
	s := newUMSServer(t).start()
	c := dial(t, s.config(AuthHeaders))
	var got collector
	_, err := c.Subscribe("Wanted", got.add)
	require.NoError(t, err)
	sc := s.conn(0)
	sc.notify(t, "Unwanted", seqBody(1))
	sc.notify(t, "x.Unwanted", seqBody(2))
	sc.notify(t, "Wanted", seqBody(3))
	require.Eventually(t, func() bool { return len(got.all()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, uint64(2), c.Stats().UnroutedNotifications, "nobody subscribed to them: counted, not silently lost")
}

func TestFiltersDoNotRunOnTheReader(t *testing.T) {
	s := newUMSServer(t).start()
	c := dial(t, s.config(AuthHeaders))
	block := make(chan struct{})
	defer close(block)
	entered := make(chan struct{}, 1)
	_, err := c.Subscribe("N", func(*Notification) {}, WithFilter(func(*Notification) bool {
		entered <- struct{}{}
		<-block // a filter that never returns
		return true
	}))
	require.NoError(t, err)
	s.conn(0).notify(t, "N", seqBody(1))
	<-entered
	// The reader still routes responses while the filter is stuck.
	_, err = c.Request(context.Background(), "Echo", nil)
	require.NoError(t, err)
}

func TestUnsubscribe(t *testing.T) {
	s := newUMSServer(t).start()
	c := dial(t, s.config(AuthHeaders))
	var a, b collector
	subA, err := c.Subscribe("X", a.add)
	require.NoError(t, err)
	_, err = c.Subscribe("X", b.add)
	require.NoError(t, err)
	sc := s.conn(0)
	sc.notify(t, "X", seqBody(1))
	require.Eventually(t, func() bool { return len(a.all()) == 1 && len(b.all()) == 1 }, 5*time.Second, 5*time.Millisecond)
	subA.Unsubscribe()
	subA.Unsubscribe() // idempotent
	sc.notify(t, "X", seqBody(2))
	require.Eventually(t, func() bool { return len(b.all()) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Len(t, a.all(), 1)

	// Unsubscribing from inside the handler works too.
	var self *Subscription
	var calls collector
	self, err = c.Subscribe("Y", func(n *Notification) { calls.add(n); self.Unsubscribe() })
	require.NoError(t, err)
	sc.notify(t, "Y", seqBody(1))
	sc.notify(t, "Y", seqBody(2))
	sc.notify(t, "X", seqBody(3))
	require.Eventually(t, func() bool { return len(b.all()) == 3 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{seqBody(1)}, calls.all())
}

func TestSlowConsumer(t *testing.T) {
	s := newUMSServer(t).start()
	errs := make(chan error, 10)
	cfg := s.config(AuthHeaders)
	cfg.OnError = func(err error) { errs <- err }
	c := dial(t, cfg)

	release := make(chan struct{})
	var slow, fast collector
	first := true
	sub, err := c.Subscribe("N", func(n *Notification) {
		if first {
			first = false
			<-release
		}
		slow.add(n)
	}, WithQueueSize(4))
	require.NoError(t, err)
	_, err = c.Subscribe("N", fast.add)
	require.NoError(t, err)

	sc := s.conn(0)
	for i := range 50 {
		sc.notify(t, "N", seqBody(i))
	}
	// The fast subscriber and the request path are unaffected by the slow one.
	require.Eventually(t, func() bool { return len(fast.all()) == 50 }, 5*time.Second, 5*time.Millisecond)
	_, err = c.Request(context.Background(), "Echo", nil)
	require.NoError(t, err)

	select {
	case err := <-errs:
		assert.ErrorIs(t, err, ErrSlowConsumer)
		var sce *SlowConsumerError
		require.ErrorAs(t, err, &sce)
		assert.Equal(t, "N", sce.Type)
		assert.GreaterOrEqual(t, sce.Dropped, uint64(1))
	case <-time.After(5 * time.Second):
		t.Fatal("the slow consumer was not reported")
	}
	select {
	case err := <-errs:
		t.Fatalf("reported twice in one episode: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// At most one in the handler and four queued; every other one is
	// dropped and counted, none lost silently.
	dropped := sub.Dropped()
	assert.GreaterOrEqual(t, dropped, uint64(45))
	assert.Equal(t, dropped, c.Stats().DroppedNotifications)
	close(release)
	require.Eventually(t, func() bool { return uint64(len(slow.all()))+dropped == 50 }, 5*time.Second, 5*time.Millisecond)
	kept := slow.all()
	assert.Equal(t, seqBody(0), kept[0])
	for i := 1; i < len(kept); i++ {
		var a, b struct{ N int }
		require.NoError(t, json.Unmarshal([]byte(kept[i-1]), &a))
		require.NoError(t, json.Unmarshal([]byte(kept[i]), &b))
		assert.Less(t, a.N, b.N, "what was kept stays in order")
	}

	// A new episode is reported again.
	block := make(chan struct{})
	first = true
	release = block
	for i := range 10 {
		sc.notify(t, "N", seqBody(100+i))
	}
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, ErrSlowConsumer)
	case <-time.After(5 * time.Second):
		t.Fatal("the second episode was not reported")
	}
	close(block)
}

func TestBadInputFromServer(t *testing.T) {
	s := newUMSServer(t).start()
	c := dial(t, s.config(AuthHeaders))
	var got collector
	_, err := c.Subscribe("", got.add)
	require.NoError(t, err)
	sc := s.conn(0)
	bad := []string{
		`garbage`, `{"kind":"resp"`, `[]`, `"a string"`, `42`, `null`, ``,
		`{"kind":5,"type":"X"}`,                                   // wrong JSON type for kind
		`{"kind":"resp","reqId":{},"code":200}`,                   // wrong type for reqId
		`{"kind":"resp","reqId":"x","code":"two hundred"}`,        // wrong type for code
		`{"kind":"notification","type":["x"]}`,                    // wrong type for type
		`{"kind":"wat","type":"X"}`,                               // unknown kind
		`{"kind":"resp","reqId":"no-such-request","code":200}`,    // unknown reqId
		`{"kind":"req","id":"1","type":"ServerSentARequest"}`,     // a request from the server
		`{"kind":"notification","type":"Unknown.Type","body":[]}`, // unknown type: routed
	}
	for _, b := range bad {
		sc.send(t, []byte(b))
	}
	sc.sendType(t, websocket.MessageBinary, []byte{0, 1, 2})
	sc.notify(t, "ms.MessagingEventNotification", `"a string body"`)
	// The socket still works.
	_, err = c.Request(context.Background(), "Echo", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(got.all()) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, `"a string body"`, got.all()[1])
	st := c.Stats()
	assert.Equal(t, uint64(14), st.MalformedFrames, "11 undecodable or kindless, 1 unknown kind, 1 server request, 1 binary")
	assert.Equal(t, uint64(1), st.UnmatchedResponses)
	assert.Equal(t, StateReady, c.State())
}

func TestOversizeFrame(t *testing.T) {
	s := newUMSServer(t)
	s.onRequest = func(sc *serverConn, f *wire.Frame) {
		big := `{"kind":"notification","type":"X","body":"` + strings.Repeat("a", 10<<20) + `"}`
		sc.send(t, []byte(big))
	}
	s.start()
	cfg := s.config(AuthHeaders)
	cfg.ReadLimit = 1 << 20
	c := dial(t, cfg)
	_, err := c.Request(context.Background(), "SendBig", nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	assert.ErrorIs(t, err, ErrConnectionLost)
	assert.Contains(t, err.Error(), "1048576 bytes")
	require.Eventually(t, func() bool { return c.State() == StateDisconnected }, 5*time.Second, 5*time.Millisecond)
}

func TestLargeFrameWithinLimit(t *testing.T) {
	s := newUMSServer(t)
	body := `{"blob":"` + strings.Repeat("b", 2<<20) + `"}`
	s.onRequest = func(sc *serverConn, f *wire.Frame) { sc.reply(t, f, 200, "Big", body) }
	s.start()
	c := dial(t, s.config(AuthHeaders)) // default limit: 4 MiB
	r, err := c.Request(context.Background(), "GetBig", nil)
	require.NoError(t, err)
	assert.Len(t, r.Body, len(body))
}

func TestCloseFromHandler(t *testing.T) {
	t.Run("subscription handler", func(t *testing.T) {
		s := newUMSServer(t).start()
		var after collector
		cfg := s.config(AuthHeaders)
		c := dial(t, cfg)
		closed := make(chan struct{})
		_, err := c.Subscribe("X", func(n *Notification) {
			c.Close()
			close(closed)
		})
		require.NoError(t, err)
		_, err = c.Subscribe("X", after.add)
		require.NoError(t, err)
		s.conn(0).notify(t, "X", seqBody(1))
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close from a handler deadlocked")
		}
		assert.Equal(t, StateClosed, c.State())
		// Only the closing goroutine itself may remain, and it ends now.
		assert.Empty(t, leakcheck.Wait(leakcheck.SDK, 2*time.Second))
	})
	t.Run("state callback", func(t *testing.T) {
		s := newUMSServer(t)
		s.onRequest = func(sc *serverConn, f *wire.Frame) { sc.ws.CloseNow() }
		s.start()
		var c *Conn
		var mu sync.Mutex
		var states []State
		returned := make(chan struct{})
		cfg := s.config(AuthHeaders)
		cfg.OnStateChange = func(sc StateChange) {
			mu.Lock()
			states = append(states, sc.State)
			mu.Unlock()
			if sc.State == StateDisconnected {
				c.Close()
				close(returned)
			}
		}
		c = dial(t, cfg)
		_, _ = c.Request(context.Background(), "Drop", nil)
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			t.Fatal("Close from OnStateChange deadlocked")
		}
		assert.Empty(t, leakcheck.Wait(leakcheck.SDK, 2*time.Second))
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []State{StateConnecting, StateReady, StateDisconnected}, states,
			"no callback runs after Close returns, not even StateClosed")
	})
}

func TestNoCallbackAfterClose(t *testing.T) {
	s := newUMSServer(t).start()
	var calls atomic32
	cfg := s.config(AuthHeaders)
	cfg.OnStateChange = func(StateChange) { calls.add() }
	c := dial(t, cfg)
	_, err := c.Subscribe("", func(*Notification) { time.Sleep(time.Millisecond); calls.add() })
	require.NoError(t, err)
	sc := s.conn(0)
	go func() {
		for i := range 1000 {
			sc.notify(t, "X", seqBody(i))
		}
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	n := calls.load()
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, n, calls.load(), "a callback ran after Close returned")
	assert.Empty(t, leakcheck.Find(leakcheck.SDK))
}

type atomic32 struct {
	mu sync.Mutex
	n  int
}

func (a *atomic32) add() { a.mu.Lock(); a.n++; a.mu.Unlock() }
func (a *atomic32) load() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}
