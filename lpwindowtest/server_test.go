package lpwindowtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/internal/leakcheck"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func newServer(t *testing.T, opts lpwindowtest.Options) *lpwindowtest.Server {
	t.Helper()
	s, err := lpwindowtest.NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consumer is a Conn plus what it received, for driving the fake.
type consumer struct {
	t  *testing.T
	c  *lpwindow.Conn
	mu sync.Mutex
	n  []*lpwindow.Notification
	ch chan struct{}
}

func connect(t *testing.T, s *lpwindowtest.Server, mode lpwindow.AuthMode) (*consumer, string) {
	t.Helper()
	jwtText, id, err := s.IssueToken()
	require.NoError(t, err)
	return connectWith(t, s, jwtText, mode), id
}

func connectWith(t *testing.T, s *lpwindowtest.Server, jwtText string, mode lpwindow.AuthMode) *consumer {
	t.Helper()
	ts, err := lpwindow.StaticToken(jwtText)
	require.NoError(t, err)
	cfg := s.Config(ts)
	cfg.Auth = mode
	cfg.MaxReconnects = -1        // these tests watch the server: no reconnection
	cfg.Retry = []time.Duration{} // and no resending behind their back
	c, err := lpwindow.Dial(ctxT(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	// Dial returns on the handshake; wait until the server has the socket.
	require.Eventually(t, func() bool { return s.Connections(c.ConsumerID()) > 0 }, 5*time.Second, time.Millisecond)
	k := &consumer{t: t, c: c, ch: make(chan struct{}, 1)}
	_, err = c.Subscribe("", func(n *lpwindow.Notification) {
		k.mu.Lock()
		k.n = append(k.n, n)
		k.mu.Unlock()
		select {
		case k.ch <- struct{}{}:
		default:
		}
	})
	require.NoError(t, err)
	return k
}

func (k *consumer) req(typ string, body any) *lpwindow.Response {
	k.t.Helper()
	r, err := k.c.Request(ctxT(k.t), typ, body)
	require.NoError(k.t, err, typ)
	return r
}

func (k *consumer) reqErr(typ string, body any) error {
	_, err := k.c.Request(ctxT(k.t), typ, body)
	return err
}

func (k *consumer) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.n)
}

// changes decodes every "changes" entry of notifications of type typ.
func (k *consumer) changes(typ string) []map[string]any {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []map[string]any
	for _, n := range k.n {
		if !strings.HasSuffix(n.Type, typ) {
			continue
		}
		var b struct{ Changes []map[string]any }
		require.NoError(k.t, json.Unmarshal(n.Body, &b))
		out = append(out, b.Changes...)
	}
	return out
}

// wait waits until cond holds over what the consumer received.
func (k *consumer) wait(what string, cond func() bool) {
	k.t.Helper()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case <-k.ch:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			k.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// messages returns the message texts of received ContentEvents, in order.
func (k *consumer) texts() []string {
	var out []string
	for _, c := range k.changes("MessagingEventNotification") {
		ev, _ := c["event"].(map[string]any)
		if ev["type"] == "ContentEvent" && ev["contentType"] == "text/plain" {
			out = append(out, ev["message"].(string))
		}
	}
	return out
}

func (k *consumer) lastConversation(convID string) map[string]any {
	var last map[string]any
	for _, c := range k.changes("ExConversationChangeNotification") {
		r, _ := c["result"].(map[string]any)
		if r != nil && r["convId"] == convID {
			last = r["conversationDetails"].(map[string]any)
		}
	}
	return last
}

func (k *consumer) open() string {
	k.t.Helper()
	var b struct{ ConversationID string }
	require.NoError(k.t, k.req("cm.ConsumerRequestConversation", map[string]any{"channelType": "MESSAGING"}).Decode(&b))
	require.NotEmpty(k.t, b.ConversationID)
	return b.ConversationID
}

func text(convID, msg string) map[string]any {
	return map[string]any{"dialogId": convID, "conversationId": convID,
		"event": map[string]any{"type": "ContentEvent", "contentType": "text/plain", "message": msg}}
}

func get(t *testing.T, s *lpwindowtest.Server, path string) (int, string) {
	t.Helper()
	resp, err := s.HTTPClient().Get(s.URL() + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, s *lpwindowtest.Server, path, body string) (int, map[string]string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	resp, err := s.HTTPClient().Post(s.URL()+path, "application/json", rd)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestNewServerRefusesNonLoopback(t *testing.T) {
	_, err := lpwindowtest.NewServer(lpwindowtest.Options{Addr: "0.0.0.0:0"})
	assert.Error(t, err)
}

func TestDomainAPI(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	a := s.Account()
	code, body := get(t, s, "/api/account/"+a+"/service/asyncMessagingEnt/baseURI.json?version=1.0")
	assert.Equal(t, 200, code)
	assert.JSONEq(t, fmt.Sprintf(`{"service":"asyncMessagingEnt","account":%q,"baseURI":%q}`, a, s.Host()), body)

	code, body = get(t, s, "/csdr/account/"+a+"/service/baseURI.json?version=1.0")
	assert.Equal(t, 200, code)
	var all struct {
		BaseURIs []struct{ Service, Account, BaseURI string }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &all))
	got := map[string]string{}
	for _, b := range all.BaseURIs {
		got[b.Service] = b.BaseURI
	}
	for _, svc := range []string{"asyncMessagingEnt", "idp", "swift", "acCdnDomain"} {
		assert.Equal(t, s.Host(), got[svc], svc)
	}

	code, body = get(t, s, "/csdr/account/"+a+"/service/idp/baseURI.lpCsds?version=1.0&cb=lpCb123")
	assert.Equal(t, 200, code)
	assert.Equal(t, `lpCb123({"ResultSet":{"lpData":[{"lpAccount":"`+a+`","lpServer":"`+s.Host()+`"}]}});`, body)

	code, _ = get(t, s, "/api/account/999/service/idp/baseURI.json?version=1.0")
	assert.Equal(t, 401, code, "unknown site")
	code, _ = get(t, s, "/api/account/"+a+"/service/idp/baseURI.json")
	assert.Equal(t, 400, code, "version=1.0 is required")
	code, _ = get(t, s, "/api/account/"+a+"/service/IDP/baseURI.json?version=1.0")
	assert.Equal(t, 400, code, "service names are case-sensitive")
	code, _ = get(t, s, "/csdr/account/"+a+"/service/idp/baseURI.lpCsds?version=1.0&cb=alert(1)")
	assert.Equal(t, 400, code)
}

func parseLP(t *testing.T, s *lpwindowtest.Server, tok string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return s.PublicKey(), nil })
	require.NoError(t, err)
	assert.Equal(t, "RS256", parsed.Method.Alg())
	assert.Equal(t, "00001", parsed.Header["kid"])
	assert.Equal(t, "acc:"+s.Account(), claims["aud"].([]any)[0])
	assert.Equal(t, lpwindowtest.LivePersonIssuer, claims["iss"])
	assert.NotEmpty(t, claims["sub"])
	assert.NotNil(t, claims["iat"])
	assert.NotNil(t, claims["exp"])
	return claims
}

func TestSignup(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{TokenLifetime: time.Hour})
	code, body := post(t, s, "/api/account/"+s.Account()+"/signup", "")
	require.Equal(t, 200, code)
	claims := parseLP(t, s, body["jwt"])
	assert.Nil(t, claims["lp.ext"], "an unauthenticated token has no lp.ext")
	exp, _ := claims.GetExpirationTime()
	assert.WithinDuration(t, time.Now().Add(time.Hour), exp.Time, 5*time.Second)

	code, js := get(t, s, "/api/account/"+s.Account()+"/signup.jsonp?callback=cb")
	assert.Equal(t, 200, code)
	assert.True(t, strings.HasPrefix(js, `cb({"jwt":"`), js)

	code, _ = post(t, s, "/api/account/nope/signup", "")
	assert.Equal(t, 401, code)

	// The token the fake issues is accepted by its websocket.
	k := connectWith(t, s, body["jwt"], lpwindow.AuthHeaders)
	assert.Equal(t, claims["sub"], k.c.ConsumerID())
}
