package lpwindowtest

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// faults holds the injected failures.
type faults struct {
	mu         sync.Mutex
	delay      map[string]time.Duration
	fail       map[string]*failRule
	notif      NotificationFaults
	rnd        *rand.Rand
	storeCode  int
	storeTimes int // storeCode's remaining uses; < 0: until cleared
	storeHang  chan struct{}
}

type failRule struct {
	code  int
	times int // < 0: until cleared
}

// NotificationFaults make the server misbehave the way the reference says
// clients must tolerate: the same notification twice, or two out of order.
// Probabilities are per notification, from a seeded generator.
type NotificationFaults struct {
	Duplicate float64 // probability a notification is sent twice
	Reorder   float64 // probability a notification is held back and sent after the next one
	Seed      uint64  // seeds the generator; runs with the same seed and traffic repeat
}

func newFaults() *faults {
	return &faults{delay: map[string]time.Duration{}, fail: map[string]*failRule{}, rnd: rand.New(rand.NewPCG(1, 2))}
}

// DelayResponses makes the server wait d before handling requests of type
// reqType (0 clears).
func (s *Server) DelayResponses(reqType string, d time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if d <= 0 {
		delete(s.faults.delay, reqType)
		return
	}
	s.faults.delay[reqType] = d
}

// FailRequests answers the next times requests of type reqType with code
// (429, 500, 503…) instead of handling them; times < 0 fails them until
// FailRequests(reqType, 0, 0) clears the rule.
func (s *Server) FailRequests(reqType string, code, times int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if times == 0 {
		delete(s.faults.fail, reqType)
		return
	}
	s.faults.fail[reqType] = &failRule{code: code, times: times}
}

// SetNotificationFaults sets the duplication and reordering of
// notifications (the zero value turns them off).
func (s *Server) SetNotificationFaults(nf NotificationFaults) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.notif = nf
	s.faults.rnd = rand.New(rand.NewPCG(nf.Seed, nf.Seed^0x9e3779b97f4a7c15))
}

// FailStorage answers file storage requests with code (0 clears).
func (s *Server) FailStorage(code int) { s.FailStorageTimes(code, -1) }

// FailStorageTimes answers the next times storage requests with code
// (times < 0: until cleared; 0 clears).
func (s *Server) FailStorageTimes(code, times int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if code == 0 || times == 0 {
		s.faults.storeCode, s.faults.storeTimes = 0, 0
		return
	}
	s.faults.storeCode, s.faults.storeTimes = code, times
}

// HangStorage makes file storage requests hang until release is closed
// (nil clears).
func (s *Server) HangStorage(release chan struct{}) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.storeHang = release
}

func (f *faults) delayFor(typ string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delay[typ]
}

func (f *faults) failFor(typ string) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.fail[typ]
	if r == nil {
		return 0, false
	}
	if r.times > 0 {
		r.times--
		if r.times == 0 {
			delete(f.fail, typ)
		}
	}
	return r.code, true
}

// storage applies storage faults; it reports whether it answered.
func (f *faults) storage(w http.ResponseWriter) bool {
	f.mu.Lock()
	code, hang := f.storeCode, f.storeHang
	if f.storeTimes > 0 {
		if f.storeTimes--; f.storeTimes == 0 {
			f.storeCode = 0
		}
	}
	f.mu.Unlock()
	if hang != nil {
		<-hang
	}
	if code != 0 {
		http.Error(w, "injected storage failure", code)
		return true
	}
	return false
}

// notificationFaultState is a socket's held-back notification.
type notificationFaultState struct {
	held  []byte
	flush *time.Timer // sends held if no notification follows soon
}

// heldFlush is how long a held-back notification waits for one to
// overtake it; a real server reorders what is in flight, it does not keep
// a notification back indefinitely.
const heldFlush = 50 * time.Millisecond

// apply returns the frames to send for b under the current faults.
func (n *notificationFaultState) apply(f *faults, b []byte) [][]byte {
	f.mu.Lock()
	nf := f.notif
	dup := nf.Duplicate > 0 && f.rnd.Float64() < nf.Duplicate
	hold := nf.Reorder > 0 && n.held == nil && f.rnd.Float64() < nf.Reorder
	f.mu.Unlock()
	out := [][]byte{b}
	if dup {
		out = append(out, b)
	}
	if hold {
		n.held = b
		return out[1:]
	}
	if n.held != nil {
		out = append(out, n.held)
		n.held = nil
		if n.flush != nil {
			n.flush.Stop()
			n.flush = nil
		}
	}
	return out
}

// sockets returns the sockets of consumerID ("" for all).
func (s *Server) sockets(consumerID string) []*socket {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	var out []*socket
	for sk := range s.state.sockets {
		if consumerID == "" || sk.consumerID == consumerID {
			out = append(out, sk)
		}
	}
	return out
}

// DropConnections closes the consumer's sockets ("" for all) abruptly,
// without a close frame, as a network failure would. It returns how many.
func (s *Server) DropConnections(consumerID string) int {
	sks := s.sockets(consumerID)
	for _, sk := range sks {
		sk.drop()
	}
	return len(sks)
}

// CloseConnections closes the consumer's sockets ("" for all) with code
// (1011, 4401, 4407…) and reason. It returns how many.
func (s *Server) CloseConnections(consumerID string, code int, reason string) int {
	sks := s.sockets(consumerID)
	for _, sk := range sks {
		sk.close(websocket.StatusCode(code), reason)
	}
	return len(sks)
}

// SendRaw sends frame as is (malformed, binary-looking, anything) to the
// consumer's sockets ("" for all). It returns how many.
func (s *Server) SendRaw(consumerID string, frame []byte) int {
	sks := s.sockets(consumerID)
	for _, sk := range sks {
		sk.enqueue(append([]byte(nil), frame...))
	}
	return len(sks)
}

// ExpireTokens expires every token issued so far to the consumer: they are
// refused from now on, and its open sockets close with 4401 (authenticated
// identity) or 4407 (unauthenticated), as on natural expiry.
func (s *Server) ExpireTokens(consumerID string) {
	s.idp.revoke(consumerID)
	for _, sk := range s.sockets(consumerID) {
		sk.expire()
	}
}

// Connections returns how many authenticated sockets the consumer has
// ("" for all consumers).
func (s *Server) Connections(consumerID string) int {
	n := 0
	for _, sk := range s.sockets(consumerID) {
		if sk.id() != "" {
			n++
		}
	}
	return n
}
