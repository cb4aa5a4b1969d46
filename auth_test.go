package lpwindow_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

// idpOf is where the fake's identity provider is.
func idpOf(s *lpwindowtest.Server) lpwindow.IDP {
	return lpwindow.IDP{Account: s.Account(), Host: s.Host(), HTTPClient: s.HTTPClient(), Insecure: !s.TLS(), Retry: []time.Duration{}}
}

// brand is a brand's identity provider: it signs id_tokens the fake trusts.
type brand struct {
	t     *testing.T
	key   *rsa.PrivateKey
	iss   string
	calls atomic.Int64
}

func newBrand(t *testing.T, s *lpwindowtest.Server) *brand {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	b := &brand{t: t, key: key, iss: "https://brand.example"}
	s.RegisterBrandKey(b.iss, &key.PublicKey)
	return b
}

func (b *brand) sign(sub string, exp time.Time) string {
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": b.iss, "sub": sub, "iat": now.Unix(), "exp": exp.Unix()}).SignedString(b.key)
	require.NoError(b.t, err)
	return tok
}

// idToken is an ImplicitFlow callback for one brand customer.
func (b *brand) idToken(sub string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		b.calls.Add(1)
		return b.sign(sub, time.Now().Add(time.Hour)), nil
	}
}

func TestSignupIdentity(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	id := lpwindow.Signup().WithIDP(idpOf(s))
	ctx := tctx(t)
	tok, err := id.Token(ctx)
	require.NoError(t, err)
	assert.NotEmpty(t, tok.ConsumerID)
	assert.True(t, tok.Expiry.After(time.Now()))
	again, err := id.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, tok.JWT, again.JWT, "cached while fresh")
	assert.EqualValues(t, 1, s.IDPCalls())
	assert.EqualValues(t, 1, id.Calls())
}

func TestImplicitFlowIdentity(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	b := newBrand(t, s)
	id := lpwindow.ImplicitFlow(b.idToken("customer-42")).WithIDP(idpOf(s))
	ctx := tctx(t)
	tok, err := id.Token(ctx)
	require.NoError(t, err)
	assert.Len(t, tok.ConsumerID, 64, "an authenticated consumer id")
	// Renewal asks the brand again and keeps the consumer (continuity).
	renewed, err := id.Renew(ctx, tok)
	require.NoError(t, err)
	assert.NotEqual(t, tok.JWT, renewed.JWT)
	assert.Equal(t, tok.ConsumerID, renewed.ConsumerID)
	assert.EqualValues(t, 2, b.calls.Load())
	// A renewal asked for with an already replaced token is the new one.
	same, err := id.Renew(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, renewed.JWT, same.JWT)
	assert.EqualValues(t, 2, b.calls.Load())
}

func TestImplicitFlowRefusals(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	b := newBrand(t, s)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	stranger := &brand{t: t, key: other, iss: b.iss}
	wrongAccount := idpOf(s)
	wrongAccount.Account = "99999999"
	for name, tc := range map[string]struct {
		token func(context.Context) (string, error)
		idp   lpwindow.IDP
	}{
		"expired brand token": {func(context.Context) (string, error) { return b.sign("c", time.Now().Add(-time.Minute)), nil }, idpOf(s)},
		"wrong signature":     {stranger.idToken("c"), idpOf(s)},
		"wrong account":       {b.idToken("c"), wrongAccount},
		"empty token":         {func(context.Context) (string, error) { return "", nil }, idpOf(s)},
	} {
		t.Run(name, func(t *testing.T) {
			before := s.IDPCalls()
			_, err := lpwindow.ImplicitFlow(tc.token).WithIDP(tc.idp).Token(tctx(t))
			require.Error(t, err)
			assert.ErrorIs(t, err, lpwindow.ErrIdentityRefused)
			assert.LessOrEqual(t, s.IDPCalls()-before, int64(1), "a refusal is not retried")
		})
	}
	t.Run("the app's callback fails", func(t *testing.T) {
		boom := errors.New("brand SSO down")
		_, err := lpwindow.ImplicitFlow(func(context.Context) (string, error) { return "", boom }).WithIDP(idpOf(s)).Token(tctx(t))
		assert.ErrorIs(t, err, boom)
		assert.NotErrorIs(t, err, lpwindow.ErrIdentityRefused, "retryable unless the app says otherwise")
	})
}

func TestCodeFlowIdentity(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	var n atomic.Int64
	id := lpwindow.CodeFlow(func(context.Context) (string, error) {
		code := fmt.Sprintf("code-%d", n.Add(1))
		s.RegisterAuthCode(code, lpwindowtest.ExternalIdentity{Sub: "customer-7", Iss: "https://brand.example"})
		return code, nil
	}).WithIDP(idpOf(s))
	ctx := tctx(t)
	tok, err := id.Token(ctx)
	require.NoError(t, err)
	renewed, err := id.Renew(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, tok.ConsumerID, renewed.ConsumerID)
	assert.EqualValues(t, 2, n.Load(), "a fresh code per token")

	used := lpwindow.CodeFlow(func(context.Context) (string, error) { return "code-1", nil }).WithIDP(idpOf(s))
	_, err = used.Token(ctx)
	assert.ErrorIs(t, err, lpwindow.ErrIdentityRefused, "codes are single-use")
	var he *lpwindow.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "idp", he.Service)
	assert.Equal(t, 401, he.StatusCode)
	assert.Equal(t, "POST /api/account/"+s.Account()+"/authenticate", he.Endpoint)
}

func TestAnonymousFlowIdentity(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{RefreshWindow: 2 * time.Second})
	id := lpwindow.AnonymousFlow("connector-1").WithIDP(idpOf(s))
	ctx := tctx(t)
	tok, err := id.Token(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2, id.Calls(), "authorize, then exchange")
	renewed, err := id.Renew(ctx, tok)
	require.NoError(t, err)
	assert.NotEqual(t, tok.JWT, renewed.JWT)
	assert.Equal(t, tok.ConsumerID, renewed.ConsumerID, "refreshing the external token keeps the consumer")

	time.Sleep(2100 * time.Millisecond) // past the refresh window
	_, err = id.Renew(ctx, renewed)
	assert.ErrorIs(t, err, lpwindow.ErrIdentityRefused)
}

func TestIdentityRenewsBeforeExpiry(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{TokenLifetime: 5 * time.Second})
	id := lpwindow.Signup().WithIDP(idpOf(s))
	ctx := tctx(t)
	first, err := id.Token(ctx)
	require.NoError(t, err)
	// exp has whole seconds: the life is 4 to 5 s, so the renewal margin
	// (a fifth of it) is at least 800 ms.
	time.Sleep(time.Until(first.Expiry.Add(-700 * time.Millisecond)))
	second, err := id.Token(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, first.JWT, second.JWT)
	assert.True(t, time.Now().Before(first.Expiry), "renewed before the old one expired")
}

func TestIdentityOneFlightForManyCallers(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	b := newBrand(t, s)
	gate := make(chan struct{})
	id := lpwindow.ImplicitFlow(func(ctx context.Context) (string, error) {
		<-gate // hold the flight until every caller is waiting
		return b.idToken("c")(ctx)
	}).WithIDP(idpOf(s))
	ctx := tctx(t)
	var wg sync.WaitGroup
	toks := make([]lpwindow.Token, 50)
	errs := make([]error, 50)
	for i := range 50 {
		wg.Go(func() { toks[i], errs[i] = id.Token(ctx) })
	}
	time.Sleep(100 * time.Millisecond)
	close(gate)
	wg.Wait()
	for i := range 50 {
		require.NoError(t, errs[i])
		assert.True(t, toks[0].JWT == toks[i].JWT, "every caller got the same token")
	}
	assert.EqualValues(t, 1, s.IDPCalls(), "one IdP call for 50 callers")
	assert.EqualValues(t, 1, b.calls.Load())

	// 50 renewals of the same stale token: one more call.
	stale := toks[0]
	renewed := make([]lpwindow.Token, 50)
	var wg2 sync.WaitGroup
	for i := range 50 {
		wg2.Go(func() { renewed[i], errs[i] = id.Renew(ctx, stale) })
	}
	wg2.Wait()
	for i := range 50 {
		require.NoError(t, errs[i])
		assert.True(t, renewed[0].JWT == renewed[i].JWT && renewed[i].JWT != stale.JWT, "every caller got the same new token")
	}
	assert.EqualValues(t, 2, s.IDPCalls())
}

func TestIdentityCallerCancelDoesNotFailOthers(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	b := newBrand(t, s)
	var first atomic.Bool
	id := lpwindow.ImplicitFlow(func(ctx context.Context) (string, error) {
		if first.CompareAndSwap(false, true) {
			<-ctx.Done() // the first caller gives up mid-flight
			return "", ctx.Err()
		}
		return b.idToken("c")(ctx)
	}).WithIDP(idpOf(s))
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := id.Token(short); done <- err }()
	time.Sleep(20 * time.Millisecond)
	tok, err := id.Token(tctx(t))
	require.NoError(t, err, "a waiter runs its own flight when the leader's context ends")
	assert.NotEmpty(t, tok.JWT)
	assert.ErrorIs(t, <-done, context.DeadlineExceeded)
}

func TestIdentityWithoutIDP(t *testing.T) {
	_, err := lpwindow.Signup().Token(context.Background())
	assert.ErrorIs(t, err, lpwindow.ErrInvalidConfig)
	_, err = lpwindow.AnonymousFlow("").WithIDP(lpwindow.IDP{Account: "1", Host: "127.0.0.1:1", Insecure: true}).Token(context.Background())
	assert.ErrorIs(t, err, lpwindow.ErrInvalidConfig)
	_, err = lpwindow.Signup().WithIDP(lpwindow.IDP{Account: "1", Host: "idp.example", Insecure: true}).Token(context.Background())
	assert.ErrorIs(t, err, lpwindow.ErrInvalidConfig, "plain http only to loopback")
}

// TestIdentitySecretsNeverShow runs failing and succeeding flows with
// debug logs captured and checks that no token or code appears in the
// logs, the errors, or the printed Identity and Token.
func TestIdentitySecretsNeverShow(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	b := newBrand(t, s)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := idpOf(s)
	p.Logger = logger
	var secrets []string
	keep := func(s string) string { secrets = append(secrets, s); return s }

	// An expired brand token refused by the idp, which echoes nothing, and
	// a server that echoes the code it got in its error body.
	expired := keep(b.sign("c", time.Now().Add(-time.Minute)))
	_, err1 := lpwindow.ImplicitFlow(func(context.Context) (string, error) { return expired, nil }).WithIDP(p).Token(tctx(t))
	require.Error(t, err1)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		http.Error(w, "bad request body: "+buf.String(), http.StatusBadRequest)
	}))
	defer echo.Close()
	code := keep("secret-code-0123456789")
	_, err2 := lpwindow.CodeFlow(func(context.Context) (string, error) { return code, nil }).
		WithIDP(lpwindow.IDP{Account: "1", Host: strings.TrimPrefix(echo.URL, "http://"), Insecure: true, Logger: logger}).Token(tctx(t))
	require.Error(t, err2)
	assert.Contains(t, err2.Error(), "[redacted]", "the echoed code is redacted")

	// A flow that works, then its values printed every way.
	id := lpwindow.ImplicitFlow(b.idToken("c")).WithIDP(p)
	tok, err := id.Token(tctx(t))
	require.NoError(t, err)
	keep(tok.JWT)
	logger.Debug("printing", "identity", id, "token", tok)
	printed := fmt.Sprintf("%v %+v %#v %s %v %+v %#v %s", id, id, id, id, tok, tok, tok, tok)

	// A Conn with debug logs, through 4401 and a renewal.
	c := dialOn(t, s, func(cfg *lpwindow.Config) { cfg.Token, cfg.Logger = lpwindow.ImplicitFlow(b.idToken("c")), logger })
	s.ExpireTokens(onServer(t, s, c))
	require.Eventually(t, func() bool { return c.Stats().Reconnects == 1 }, 5*time.Second, 5*time.Millisecond)

	mu.Lock()
	all := logs.String() + err1.Error() + err2.Error() + printed
	mu.Unlock()
	for _, sec := range secrets {
		assert.NotContains(t, all, sec)
		// JWT parts alone (a signature, a payload) must not leak either.
		for part := range strings.SplitSeq(sec, ".") {
			if len(part) > 16 {
				assert.NotContains(t, all, part)
			}
		}
	}
	assert.Contains(t, logs.String(), "lpwindow", "logs were captured")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// dialOn dials the fake with its Config edited by edit.
func dialOn(t *testing.T, s *lpwindowtest.Server, edit func(*lpwindow.Config)) *lpwindow.Conn {
	t.Helper()
	cfg := s.Config(nil)
	cfg.ReconnectWait = 20 * time.Millisecond
	cfg.Retry = []time.Duration{50 * time.Millisecond}
	edit(&cfg)
	c, err := lpwindow.Dial(tctx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func newFake(t *testing.T, opts lpwindowtest.Options) *lpwindowtest.Server {
	t.Helper()
	s, err := lpwindowtest.NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}
