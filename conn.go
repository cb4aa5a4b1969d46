package lpwindow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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
// When a session is lost (network failure, server close, token expiry,
// heartbeat timeout) the Conn reconnects with backoff, renews the identity
// on 4401/4407, and resumes its conversations from the last sequence each
// dialog delivered (see Config.ReconnectWait and the README's "Across
// disconnects"). Calls made meanwhile wait for the new session within
// their context (Config.FailFast to fail instead); a request that was
// written but not answered when the socket died fails with an error
// matching ErrOutcomeUnknown and is never resent by the SDK. When the Conn
// gives up (a refused identity, Config.MaxReconnects) it reports
// StateFailed and every call fails with ErrConnectionLost.
type Conn struct {
	cfg    Config
	log    *slog.Logger
	group  routine.Group
	ctx    context.Context // cancelled when Close starts; bounds reconnection
	cancel context.CancelFunc

	mu      sync.Mutex
	state   State
	lostErr error // why the last session ended, while live is nil
	closed  bool
	failed  bool                    // the SDK gave up reconnecting
	live    atomic.Pointer[session] // the ready session; nil while not connected or closed
	changed chan struct{}           // closed and replaced whenever live changes or the Conn fails
	waiting int                     // calls waiting for a session

	consumerID atomic.Pointer[string] // of the last session's token

	closing   chan struct{} // closed when Close starts
	lost      chan struct{} // closed when the Conn fails: no session will come back
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
	StateDisconnected              // the session was lost; a reconnection follows
	StateClosed                    // Close was called; final
	StateFailed                    // the session was lost and the SDK gave up; final until Close
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
	case StateFailed:
		return "failed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// StateChange is passed to Config.OnStateChange.
type StateChange struct {
	State State
	Err   error // the cause, for StateDisconnected and StateFailed; nil otherwise
	Time  time.Time
	// Attempt numbers the reconnection attempts since the last stable
	// session: for StateDisconnected the one about to be made, for
	// StateConnecting and StateReady the one in progress or that
	// succeeded. 0 for the first connection.
	Attempt int
	// Delay is how long StateDisconnected waits before Attempt.
	Delay time.Duration
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
	Reconnects            uint64 // sessions established after the first
	ReconnectAttempts     uint64 // reconnection attempts, successful or not
}

type stats struct {
	framesIn, framesOut, malformed, unmatched, dropped, unrouted atomic.Uint64
	reconnects, attempts                                         atomic.Uint64
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
		Reconnects:            c.stats.reconnects.Load(),
		ReconnectAttempts:     c.stats.attempts.Load(),
	}
}

// Dial connects and authenticates (reference §4), first resolving the
// account's hosts with the Domain API when Config.Domains does not give
// them. It returns once the session is ready, so bad credentials or an
// unreachable host fail here. ctx bounds the dial; Config.DialTimeout
// bounds it too.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	if err := cfg.resolveDomains(ctx); err != nil {
		return nil, err
	}
	c := &Conn{cfg: cfg, log: cfg.Logger, closing: make(chan struct{}), lost: make(chan struct{}), changed: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if cfg.OnStateChange != nil || cfg.OnError != nil {
		c.events.ch = make(chan any, eventQueueSize)
		c.events.quit = make(chan struct{})
		c.group.Go(c.eventLoop)
	}
	c.setState(StateChange{State: StateConnecting})
	s, err := c.connect(ctx, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.mu.Lock()
	c.setLive(s)
	c.mu.Unlock()
	c.setState(StateChange{State: StateReady})
	c.group.Go(func() { c.supervise(s) })
	return c, nil
}

// setLive makes s the session calls use and wakes waiting calls (c.mu held).
func (c *Conn) setLive(s *session) {
	c.live.Store(s)
	if s != nil {
		id := s.token.ConsumerID
		c.consumerID.Store(&id)
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// State returns the current connection state.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// ConsumerID returns the consumer's participant id (the JWT's "sub"), which
// the server uses as originatorId on the consumer's own events.
// It is the last session's while reconnecting.
func (c *Conn) ConsumerID() string {
	if id := c.consumerID.Load(); id != nil {
		return *id
	}
	return ""
}

func (c *Conn) setState(ch StateChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateClosed || (c.state == ch.State && (ch.State == StateReady || ch.State == StateFailed)) {
		return
	}
	c.state = ch.State
	c.log.Debug("lpwindow: state", "state", ch.State.String(), "err", ch.Err, "attempt", ch.Attempt, "delay", ch.Delay)
	if c.cfg.OnStateChange != nil {
		ch.Time = time.Now()
		c.emitLocked(ch)
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
	ctx, cancel := c.withDefaultTimeout(ctx)
	defer cancel()
	pinned, _ := ctx.Value(sessionKey{}).(*session)
	var prev *session
	retries := 0
	for {
		s := pinned
		if s == nil {
			var err error
			if s, err = c.await(ctx, req.typ, prev); err != nil {
				return nil, err
			}
		}
		resp, err := s.roundTrip(ctx, req)
		if err == nil {
			return resp, nil // the fast path: no error inspection (errors.As allocates)
		}
		if neverSent(err) && c.mayWait() && pinned == nil {
			// Never written: safe to send on the next session.
			prev = s
			continue
		}
		if pause, ok := c.retryPause(req.typ, err, &retries); ok {
			c.log.Debug("lpwindow: retrying a request", "type", req.typ, "err", err, "pause", pause)
			if sleep(ctx, pause) == nil {
				prev = nil
				continue
			}
		}
		return resp, err
	}
}

// neverSent reports whether err is a lost connection before the request
// was written.
func neverSent(err error) bool {
	var lost *ConnectionLostError
	return errors.As(err, &lost) && !lost.Sent
}

// retrySafe lists the request types the SDK resends on its own after 429
// or 5xx: doing them twice changes nothing. Publishing, requesting a
// conversation and updating one are never resent (a 5xx leaves their
// outcome unknown); the app decides.
var retrySafe = map[string]bool{
	"GetClock":                     true,
	TypeSubscribeExConversations:   true,
	TypeUnsubscribeExConversations: true,
	TypeSubscribeMessagingEvents:   true,
	TypeGenerateUploadURL:          true,
	TypeGenerateDownloadURL:        true,
}

// retryPause says whether and after how long to resend a request that
// failed with err (reference §18): 429 after at least RateLimitPause plus
// jitter, 5xx after the next Config.Retry pause; 4xx never.
func (c *Conn) retryPause(typ string, err error, retries *int) (time.Duration, bool) {
	var ae *APIError
	if !retrySafe[typ] || !errors.As(err, &ae) || *retries >= len(c.cfg.Retry) {
		return 0, false
	}
	pause := c.cfg.Retry[*retries]
	switch {
	case ae.Code == 429:
		pause = max(pause, RateLimitPause) + rand.N(RateLimitPause)
	case ae.Code >= 500:
	default:
		return 0, false
	}
	*retries++
	return pause, true
}

// sessionKey pins the requests of a context to one session: they neither
// wait for another nor move to it (the supervisor's resubscriptions).
type sessionKey struct{}

func withSession(ctx context.Context, s *session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// withDefaultTimeout gives ctx Config.RequestTimeout when it has no deadline.
func (c *Conn) withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// mayWait reports whether calls wait for a reconnection.
func (c *Conn) mayWait() bool { return !c.cfg.FailFast && c.cfg.MaxReconnects >= 0 }

// current returns the ready session without waiting. The fast path is one
// atomic load.
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

// await returns a ready session other than prev (which failed the caller),
// waiting within ctx while the Conn reconnects.
func (c *Conn) await(ctx context.Context, typ string, prev *session) (*session, error) {
	for {
		if s := c.live.Load(); s != nil && s != prev {
			return s, nil
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, fmt.Errorf("lpwindow: %s: %w", typ, ErrClosed)
		}
		if s := c.live.Load(); s != nil && s != prev {
			c.mu.Unlock()
			return s, nil
		}
		if c.failed || !c.mayWait() {
			err := &ConnectionLostError{RequestType: typ, Cause: c.lostErr}
			c.mu.Unlock()
			return nil, err
		}
		if c.waiting >= c.cfg.MaxWaitingRequests {
			c.mu.Unlock()
			return nil, &ConnectionLostError{RequestType: typ, Cause: fmt.Errorf("%d calls already wait for the reconnection (Config.MaxWaitingRequests)", c.cfg.MaxWaitingRequests)}
		}
		c.waiting++
		ch := c.changed
		c.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = &ConnectionLostError{RequestType: typ, Cause: fmt.Errorf("waiting for the reconnection: %w", ctx.Err())}
		}
		c.mu.Lock()
		c.waiting--
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
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
	start := time.Now()
	resp, err := c.do(ctx, outgoing{typ: "GetClock"})
	if err != nil {
		return 0, err
	}
	return c.clock(start, resp)
}

// syncClock is SyncClock on one session: the heartbeat probes that one.
func (c *Conn) syncClock(ctx context.Context, s *session) (time.Duration, error) {
	start := time.Now()
	resp, err := s.roundTrip(ctx, outgoing{typ: "GetClock"})
	if err != nil {
		return 0, err
	}
	return c.clock(start, resp)
}

// clock records the offset a GetClock response sent at start gives.
func (c *Conn) clock(start time.Time, resp *Response) (time.Duration, error) {
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
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		close(c.closing)
		if c.cancel != nil {
			c.cancel()
		}
		if s != nil {
			s.end(ErrClosed, true)
		}
		c.subs.stopAll()
		c.routerMu.Lock()
		if c.router != nil {
			c.router.stop()
		}
		c.routerMu.Unlock()
		c.setState(StateChange{State: StateClosed})
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

// Domains returns the hosts the Conn uses: Config.Domains, or what the
// Domain API resolved for them.
func (c *Conn) Domains() Domains { return c.cfg.Domains }
