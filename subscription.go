package lpwindow

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
)

// Notification is a server-initiated frame, its body kept raw. One value
// may be delivered to several subscribers: treat it as read-only.
type Notification struct {
	Type string          // as sent, e.g. "cqm.ExConversationChangeNotification"
	Body json.RawMessage // raw body, nil when absent
}

// Decode unmarshals the body into v.
func (n *Notification) Decode(v any) error { return decodeBody(n.Type, n.Body, v) }

// Subscription delivers notifications of one type to a handler, in the
// order they arrived, on a goroutine of its own. Its queue is bounded: when
// the handler falls behind, further notifications are dropped, counted in
// Dropped, and reported once per episode to Config.OnError as a
// *SlowConsumerError. The reader never waits for a handler.
type Subscription struct {
	c       *Conn
	typ     string // as given
	base    string // the type's last dot-separated segment, "" for all
	filter  func(*Notification) bool
	handler func(*Notification)
	queue   chan *Notification
	quit    chan struct{}
	once    sync.Once

	dropped     atomic.Uint64
	overflowing atomic.Bool
}

// SubscribeOption configures a subscription.
type SubscribeOption func(*Subscription)

// WithFilter delivers only the notifications for which keep returns true.
// keep runs on the subscription's goroutine, never on the reader.
func WithFilter(keep func(*Notification) bool) SubscribeOption {
	return func(s *Subscription) { s.filter = keep }
}

// WithQueueSize sets the subscription's queue capacity (default
// Config.QueueSize).
func WithQueueSize(n int) SubscribeOption {
	return func(s *Subscription) {
		if n > 0 {
			s.queue = make(chan *Notification, n)
		}
	}
}

// Subscribe calls handler for every notification of type typ ("" for every
// type). Types match on their last dot-separated segment, because the same
// notification is sent under several prefixes (reference §22.1):
// "cqm.ExConversationChangeNotification" also receives
// "aam.ExConversationChangeNotification".
//
// Subscribe only routes what the server already sends; asking the server
// for notifications (ms.SubscribeMessagingEvents, cqm.SubscribeExConversations)
// is a request.
func (c *Conn) Subscribe(typ string, handler func(*Notification), opts ...SubscribeOption) (*Subscription, error) {
	if handler == nil {
		return nil, invalidf(ErrInvalidRequest, "Subscribe needs a handler")
	}
	s := &Subscription{c: c, typ: typ, base: typeBase(typ), handler: handler, quit: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.queue == nil {
		s.queue = make(chan *Notification, c.cfg.QueueSize)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.subs.add(s)
	c.group.Go(s.loop)
	return s, nil
}

// Unsubscribe stops delivery. Notifications still queued are discarded;
// a handler already running finishes. It is idempotent and may be called
// from the handler.
func (s *Subscription) Unsubscribe() {
	s.c.subs.remove(s)
	s.stop()
}

// Dropped returns how many notifications this subscription dropped.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Type returns the type the subscription was made for.
func (s *Subscription) Type() string { return s.typ }

func (s *Subscription) stop() { s.once.Do(func() { close(s.quit) }) }

func (s *Subscription) loop() {
	for {
		select {
		case <-s.quit:
			return
		case n := <-s.queue:
			select {
			case <-s.quit:
				return
			default:
			}
			if len(s.queue) == 0 {
				s.overflowing.Store(false) // the episode is over
			}
			if s.c.finished.Load() {
				return
			}
			if s.filter != nil && !s.filter(n) {
				continue
			}
			s.handler(n)
		}
	}
}

// offer queues n without blocking; on overflow it counts the drop and
// reports the episode's start.
func (s *Subscription) offer(n *Notification) {
	select {
	case s.queue <- n:
		return
	default:
	}
	total := s.dropped.Add(1)
	s.c.stats.dropped.Add(1)
	if !s.overflowing.Swap(true) {
		s.c.log.Warn("lpwindow: slow consumer; dropping notifications", "type", s.typ)
		s.c.emit(&SlowConsumerError{Type: s.typ, Dropped: total})
	}
}

func (s *Subscription) matches(base string) bool { return s.base == "" || s.base == base }

// typeBase returns the last dot-separated segment of a type name.
func typeBase(t string) string { return t[strings.LastIndexByte(t, '.')+1:] }

// subscriptions is a copy-on-write list, read by the reader without locks.
type subscriptions struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*Subscription]
}

func (l *subscriptions) add(s *Subscription) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var next []*Subscription
	if cur := l.list.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, s)
	l.list.Store(&next)
}

func (l *subscriptions) remove(s *Subscription) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.list.Load()
	if cur == nil {
		return
	}
	next := make([]*Subscription, 0, len(*cur))
	for _, x := range *cur {
		if x != s {
			next = append(next, x)
		}
	}
	l.list.Store(&next)
}

func (l *subscriptions) stopAll() {
	l.mu.Lock()
	cur := l.list.Load()
	l.list.Store(nil)
	l.mu.Unlock()
	if cur != nil {
		for _, s := range *cur {
			s.stop()
		}
	}
}

// dispatch offers a notification to every matching subscription and
// reports whether any took it. The Notification is only built when one does.
func (l *subscriptions) dispatch(typ string, body json.RawMessage) bool {
	cur := l.list.Load()
	if cur == nil {
		return false
	}
	base := typeBase(typ)
	var n *Notification
	for _, s := range *cur {
		if s.matches(base) {
			if n == nil {
				n = &Notification{Type: typ, Body: body}
			}
			s.offer(n)
		}
	}
	return n != nil
}
