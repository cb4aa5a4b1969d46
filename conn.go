package lpwindow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lpwindow/lpwindow/internal/routine"
	"github.com/lpwindow/lpwindow/internal/wire"
)

// Conn is a consumer's connection to LivePerson's Messaging Window API: one
// authenticated websocket, its heartbeat, the requests in flight on it and
// the subscribers its notifications fan out to. It is safe for concurrent
// use.
//
// A Conn serves one websocket session. When that session is lost (network
// failure, server close, heartbeat timeout) the Conn reports
// StateDisconnected with the cause, and every call fails with an error
// matching ErrConnectionLost; Close it and Dial again.
type Conn struct {
	cfg   Config
	log   *slog.Logger
	group routine.Group

	mu      sync.Mutex
	state   State
	lostErr error // why the last session ended, while live is nil
	closed  bool
	live    atomic.Pointer[session] // the ready session; nil while not connected or closed

	closing   chan struct{} // closed when Close starts
	lost      chan struct{} // closed when the session is lost (final until reconnection exists)
	closeOnce sync.Once
	finished  atomic.Bool // set when Close has joined every goroutine

	subs   subscriptions
	events eventQueue

	routerMu sync.Mutex
	router   *router // conversations; started by the first OpenConversation

	clockOffset atomic.Int64 // server minus local clock, in ns
	clockKnown  atomic.Bool
	stats       stats
}

// State is a connection state.
type State int32

// The connection states.
const (
	StateConnecting   State = iota // dialing and authenticating
	StateReady                     // authenticated; requests flow
	StateDisconnected              // the session was lost
	StateClosed                    // Close was called; final
)

// String returns the State's name.
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateReady:
		return "ready"
	case StateDisconnected:
		return "disconnected"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// StateChange is passed to Config.OnStateChange.
type StateChange struct {
	State State
	Err   error // the cause, for StateDisconnected; nil otherwise
	Time  time.Time
}

// Response is a successful (code < 400) response to a request.
type Response struct {
	Type  string          // the response type as sent; informative only, it varies (reference §22)
	Code  int             // the HTTP-style status code
	ReqID string          // the id of the request it answers
	Body  json.RawMessage // raw body: an object, a JSON string, or nil when absent
}

// Decode unmarshals the body into v.
func (r *Response) Decode(v any) error { return decodeBody(r.Type, r.Body, v) }

// Text returns the body when it is a JSON string (string responses such as
// "OK Conversation resolved successfully"), else "".
func (r *Response) Text() string {
	s, _ := wire.String(r.Body)
	return s
}

func decodeBody(typ string, body json.RawMessage, v any) error {
	if body == nil {
		return fmt.Errorf("lpwindow: %s has no body", typ)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("lpwindow: decoding %s body: %w", typ, err)
	}
	return nil
}

// Stats are counters over a Conn's life.
type Stats struct {
	FramesIn              uint64 // frames read
	FramesOut             uint64 // frames written
	MalformedFrames       uint64 // frames skipped: undecodable, binary, or of unknown kind
	UnmatchedResponses    uint64 // responses matching no pending request (late or unknown reqId)
	DroppedNotifications  uint64 // notifications dropped by slow subscribers, all subscriptions
	UnroutedNotifications uint64 // notifications no subscription matched, so nobody received
	DroppedEvents         uint64 // state/error events dropped because the callbacks fell behind
}

type stats struct {
	framesIn, framesOut, malformed, unmatched, dropped, unrouted atomic.Uint64
}

// Stats returns the Conn's counters.
func (c *Conn) Stats() Stats {
	return Stats{
		FramesIn:              c.stats.framesIn.Load(),
		FramesOut:             c.stats.framesOut.Load(),
		MalformedFrames:       c.stats.malformed.Load(),
		UnmatchedResponses:    c.stats.unmatched.Load(),
		DroppedNotifications:  c.stats.dropped.Load(),
		UnroutedNotifications: c.stats.unrouted.Load(),
		DroppedEvents:         c.events.dropped.Load(),
	}
}

// Dial connects and authenticates (reference §4). It returns once the
// session is ready, so bad credentials or an unreachable host fail here.
// ctx bounds the dial; Config.DialTimeout bounds it too.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	c := &Conn{cfg: cfg, log: cfg.Logger, closing: make(chan struct{}), lost: make(chan struct{})}
	if cfg.OnStateChange != nil || cfg.OnError != nil {
		c.events.ch = make(chan any, eventQueueSize)
		c.events.quit = make(chan struct{})
		c.group.Go(c.eventLoop)
	}
	c.setState(StateConnecting, nil)
	s, err := c.connect(ctx)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.live.Store(s)
	c.setState(StateReady, nil)
	c.group.Go(func() { c.supervise(s) })
	return c, nil
}

// supervise watches the session until it ends or the Conn closes.
func (c *Conn) supervise(s *session) {
	c.group.Go(s.heartbeatLoop)
	select {
	case <-s.done:
	case <-c.closing:
		return
	}
	cause := s.cause()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.live.Store(nil)
	c.lostErr = cause
	close(c.lost)
	c.mu.Unlock()
	c.log.Warn("lpwindow: session lost", "err", cause)
	c.setState(StateDisconnected, cause)
	c.emit(&ConnectionLostError{Cause: cause})
}

// State returns the current connection state.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// ConsumerID returns the consumer's participant id (the JWT's "sub"), which
// the server uses as originatorId on the consumer's own events.
func (c *Conn) ConsumerID() string {
	s, err := c.current()
	if err != nil {
		return ""
	}
	return s.token.ConsumerID
}

func (c *Conn) setState(st State, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateClosed || (c.state == st && st != StateConnecting) {
		return
	}
	c.state = st
	c.log.Debug("lpwindow: state", "state", st.String(), "err", err)
	if c.cfg.OnStateChange != nil {
		c.emitLocked(StateChange{State: st, Err: err, Time: time.Now()})
	}
}

// Request sends a request of the given type and waits for its response.
// body is marshalled to JSON (a json.RawMessage is sent as is); nil sends
// no body. A response with code >= 400 is an *APIError. Without a deadline
// on ctx, Config.RequestTimeout applies. If ctx ends first, ctx's error is
// returned (wrapped) and the response, should it come, is discarded.
//
// The typed methods of Conn and Conversation are built on Request; use it
// for request types the SDK does not cover.
func (c *Conn) Request(ctx context.Context, typ string, body any) (*Response, error) {
	if err := checkRequestType(typ); err != nil {
		return nil, err
	}
	raw, err := encodeBody(typ, body)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, outgoing{typ: typ, body: raw})
}

// outgoing is a request ready for the wire, less its id.
type outgoing struct {
	typ      string
	body     json.RawMessage
	headers  json.RawMessage
	metadata json.RawMessage
}

func (c *Conn) do(ctx context.Context, req outgoing) (*Response, error) {
	s, err := c.current()
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.withDefaultTimeout(ctx)
	defer cancel()
	return s.roundTrip(ctx, req)
}

// withDefaultTimeout gives ctx Config.RequestTimeout when it has no deadline.
func (c *Conn) withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// current returns the ready session. The fast path is one atomic load.
func (c *Conn) current() (*session, error) {
	if s := c.live.Load(); s != nil {
		return s, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if s := c.live.Load(); s != nil {
		return s, nil
	}
	return nil, &ConnectionLostError{Cause: c.lostErr}
}

func checkRequestType(typ string) error {
	if typ == "" || len(typ) > 128 {
		return invalidf(ErrInvalidRequest, "request type %q must be 1 to 128 characters", typ)
	}
	for i := 0; i < len(typ); i++ {
		b := typ[i]
		if !(b == '.' || b == '_' || b == '$' || b == '-' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z') {
			return invalidf(ErrInvalidRequest, "request type %q has a character outside [A-Za-z0-9._$-]", typ)
		}
	}
	return nil
}

func encodeBody(typ string, body any) (json.RawMessage, error) {
	switch b := body.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if b == nil {
			return nil, nil
		}
		if !json.Valid(b) {
			return nil, invalidf(ErrInvalidRequest, "%s body is not valid JSON", typ)
		}
		return b, nil
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, invalidf(ErrInvalidRequest, "%s body: %v", typ, err)
	}
	if bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	return raw, nil
}

// SyncClock sends GetClock and returns the server clock's offset from the
// local clock (server minus local), corrected for half the round trip. The
// heartbeat does this on every beat; ClockOffset returns the latest value.
func (c *Conn) SyncClock(ctx context.Context) (time.Duration, error) {
	s, err := c.current()
	if err != nil {
		return 0, err
	}
	ctx, cancel := c.withDefaultTimeout(ctx)
	defer cancel()
	return c.syncClock(ctx, s)
}

func (c *Conn) syncClock(ctx context.Context, s *session) (time.Duration, error) {
	start := time.Now()
	resp, err := s.roundTrip(ctx, outgoing{typ: "GetClock"})
	if err != nil {
		return 0, err
	}
	rtt := time.Since(start)
	var body struct {
		CurrentTime int64 `json:"currentTime"`
	}
	// The GetClock body is documented for the agent API and expected for the
	// consumer one (reference §6, UNCONFIRMED): without it the heartbeat
	// still proves liveness, only the offset stays unknown.
	if resp.Decode(&body) != nil || body.CurrentTime <= 0 {
		return 0, fmt.Errorf("lpwindow: GetClock answered without currentTime")
	}
	server := time.UnixMilli(body.CurrentTime)
	offset := server.Sub(start.Add(rtt / 2))
	c.clockOffset.Store(int64(offset))
	c.clockKnown.Store(true)
	return offset, nil
}

// ClockOffset returns the server clock's offset from the local clock
// (server minus local) as of the last heartbeat or SyncClock, and whether
// one has been measured.
func (c *Conn) ClockOffset() (time.Duration, bool) {
	return time.Duration(c.clockOffset.Load()), c.clockKnown.Load()
}

// Close closes the connection: pending calls fail with an error matching
// ErrClosed, the websocket is closed (the close handshake is bounded by
// Config.CloseTimeout), and every goroutine the Conn started is joined, so
// no callback runs after Close returns. It is idempotent and may be called
// from inside a handler or callback (that one callback finishes normally).
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		s := c.live.Swap(nil)
		c.mu.Unlock()
		close(c.closing)
		if s != nil {
			s.end(ErrClosed, true)
		}
		c.subs.stopAll()
		c.routerMu.Lock()
		if c.router != nil {
			c.router.stop()
		}
		c.routerMu.Unlock()
		c.setState(StateClosed, nil)
		if c.events.quit != nil {
			close(c.events.quit)
		}
		c.group.Wait()
		c.finished.Store(true)
	})
	return nil
}

// eventQueueSize bounds the state/error events waiting for the callbacks.
const eventQueueSize = 256

// eventQueue carries StateChange values and errors to the callbacks, in
// order, on one goroutine.
type eventQueue struct {
	ch      chan any
	quit    chan struct{}
	dropped atomic.Uint64
}

// emit queues an error for Config.OnError without blocking.
func (c *Conn) emit(err error) {
	if c.cfg.OnError == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emitLocked(err)
}

func (c *Conn) emitLocked(ev any) {
	if c.events.ch == nil {
		return
	}
	select {
	case c.events.ch <- ev:
	default:
		c.events.dropped.Add(1)
		c.log.Warn("lpwindow: event callbacks are not keeping up; event dropped")
	}
}

func (c *Conn) eventLoop() {
	deliver := func(ev any) {
		if c.finished.Load() {
			return
		}
		switch ev := ev.(type) {
		case StateChange:
			c.cfg.OnStateChange(ev)
		case error:
			c.cfg.OnError(ev)
		}
	}
	for {
		select {
		case ev := <-c.events.ch:
			deliver(ev)
		case <-c.events.quit:
			for {
				select {
				case ev := <-c.events.ch:
					deliver(ev)
				default:
					return
				}
			}
		}
	}
}
