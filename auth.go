package lpwindow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lpwindow/lpwindow/internal/wire"
)

// Token is a LivePerson consumer JWT and what the SDK learned from it.
// Printing a Token (fmt's %v, %+v, %#v, %s, or slog) never shows the JWT.
type Token struct {
	JWT        string    // the LivePerson consumer JWT
	ConsumerID string    // its "sub" claim: the consumer's participant id
	Expiry     time.Time // its "exp" claim; zero when it has none
}

// String redacts the JWT.
func (t Token) String() string {
	return fmt.Sprintf("Token{ConsumerID:%q, Expiry:%s, JWT:[redacted]}", t.ConsumerID, t.Expiry.Format(time.RFC3339))
}

// GoString redacts the JWT.
func (t Token) GoString() string { return t.String() }

// Format redacts the JWT for every verb.
func (t Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(t.String())) }

// LogValue redacts the JWT in slog output.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("consumerId", t.ConsumerID), slog.Time("expiry", t.Expiry))
}

// TokenSource supplies a consumer token. Token is called before every
// connection attempt; it should return a cached token while it is valid
// and a fresh one before that one expires. An error matching
// ErrIdentityRefused (or ErrInvalidConfig) is final: the Conn stops
// reconnecting; any other error is retried with backoff.
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
}

// A Renewer is a TokenSource that can replace a token the server refused.
// When the server closes the socket with 4401 (authenticated identity
// expired) or 4407 (unauthenticated identity to extend), or refuses a
// handshake with 401, the Conn calls Renew with the token it used before
// reconnecting. Renew returns a token other than stale: the one another
// caller already renewed, or a new one.
type Renewer interface {
	TokenSource
	Renew(ctx context.Context, stale Token) (Token, error)
}

// TokenFunc adapts a function to a TokenSource.
type TokenFunc func(ctx context.Context) (Token, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (Token, error) { return f(ctx) }

// StaticToken is a TokenSource that always returns the same JWT. The JWT is
// decoded (not verified) to learn the consumer id and expiry; a JWT that
// cannot be decoded is an error matching ErrInvalidConfig, which never
// contains the JWT.
func StaticToken(jwtText string) (TokenSource, error) {
	t, err := ParseToken(jwtText)
	if err != nil {
		return nil, err
	}
	return TokenFunc(func(context.Context) (Token, error) { return t, nil }), nil
}

// ParseToken decodes a LivePerson JWT without verifying it (only LivePerson
// can) to learn its "sub" and "exp". The error never contains the JWT.
func ParseToken(jwtText string) (Token, error) {
	if len(jwtText) > maxJWTLen {
		return Token{}, invalidf(ErrInvalidConfig, "token is %d bytes, more than the documented %d", len(jwtText), maxJWTLen)
	}
	claims := jwt.RegisteredClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(jwtText, &claims); err != nil {
		return Token{}, invalidf(ErrInvalidConfig, "token is not a JWT")
	}
	t := Token{JWT: jwtText, ConsumerID: claims.Subject}
	if claims.ExpiresAt != nil {
		t.Expiry = claims.ExpiresAt.Time
	}
	return t, nil
}

// IDP says where an Identity gets its tokens: LivePerson's identity
// provider for an account. Dial fills it in from the Config (Account,
// Domains.IDP, HTTPClient, Insecure, Logger) for an Identity that has none.
type IDP struct {
	Account    string
	Host       string          // the idp host (Domains.IDP)
	HTTPClient *http.Client    // default http.DefaultClient
	Insecure   bool            // http://, allowed only for a loopback Host
	Retry      []time.Duration // pauses between retries of transient failures; default DefaultRetry
	Logger     *slog.Logger    // default: nothing is logged
}

type identityFlow int

const (
	flowSignup identityFlow = iota
	flowImplicit
	flowCode
	flowAnonymous
)

func (f identityFlow) String() string {
	return [...]string{"signup", "implicit", "code", "anonymous"}[f]
}

// Identity is a TokenSource and Renewer that obtains consumer tokens from
// LivePerson's identity provider with one of the documented flows
// (reference §3): Signup, ImplicitFlow, CodeFlow or AnonymousFlow. It
// caches the token, renews it before it expires (when less than a fifth of
// its life, at most a minute, remains), and runs one request to the
// identity provider at a time however many callers ask. An answer of 4xx
// from the identity provider is an error matching ErrIdentityRefused.
// Printing an Identity never shows a token.
type Identity struct {
	flow      identityFlow
	callback  func(ctx context.Context) (string, error)
	connector string

	mu       sync.Mutex
	idp      *IDP
	tok      Token
	obtained time.Time
	external string // AnonymousFlow: the external (ACR0) token
	flight   *identityFlight
	calls    int64
}

type identityFlight struct {
	done chan struct{}
	tok  Token
	err  error
}

// Signup is an unauthenticated identity from POST /signup (reference
// §3.1): a new anonymous consumer, for tests and demos; LivePerson says
// production should authenticate. Its renewal on 4407 signs up again,
// which makes a new consumer: open conversations stay with the old one.
// (UNCONFIRMED how LivePerson extends a signup identity.)
func Signup() *Identity { return &Identity{flow: flowSignup} }

// ImplicitFlow is an authenticated identity: idToken returns the brand's
// signed id_token (a JWT), which is sent as authCode to POST /authenticate
// (reference §3.2). It is called for the first token and again whenever
// the token must be renewed (before expiry, or on 4401), so it should
// return a fresh id_token. The returned consumer id is stable for one
// brand identity, so conversations continue across renewals.
func ImplicitFlow(idToken func(ctx context.Context) (string, error)) *Identity {
	return &Identity{flow: flowImplicit, callback: idToken}
}

// CodeFlow is an authenticated identity: authCode returns a new OAuth 2.0
// authorization code from the brand, sent as authCode to POST
// /authenticate; LivePerson's IDP exchanges it at the brand's token
// endpoint (reference §3.2). Codes are single-use, so it is called for
// every token.
func CodeFlow(authCode func(ctx context.Context) (string, error)) *Identity {
	return &Identity{flow: flowCode, callback: authCode}
}

// AnonymousFlow is an unauthenticated identity controlled by the brand's
// ACR0 connector (reference §3.3): POST /anonymous/authorize gives an
// external token, POST /app/{connectorID}/authenticate?v=3.0 exchanges it
// for the LivePerson token. Renewal (before expiry, or on 4407) refreshes
// the external token with the previous one, which keeps the same consumer
// while LivePerson's refresh window lasts (730 hours by default).
func AnonymousFlow(connectorID string) *Identity {
	return &Identity{flow: flowAnonymous, connector: connectorID}
}

// WithIDP sets where the Identity gets its tokens and returns it, for use
// outside a Conn (Dial sets it from the Config otherwise). Set it before
// the first Token call.
func (id *Identity) WithIDP(p IDP) *Identity {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.idp = &p
	return id
}

// bind gives the Identity the Conn's IDP unless it has one.
func (id *Identity) bind(p IDP) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.idp == nil {
		id.idp = &p
	}
}

// String describes the Identity without its tokens.
func (id *Identity) String() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	return fmt.Sprintf("Identity{flow:%s, %s}", id.flow, id.tok)
}

// GoString describes the Identity without its tokens.
func (id *Identity) GoString() string { return id.String() }

// Format describes the Identity without its tokens, for every verb.
func (id *Identity) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(id.String())) }

// LogValue describes the Identity without its tokens.
func (id *Identity) LogValue() slog.Value {
	id.mu.Lock()
	defer id.mu.Unlock()
	return slog.GroupValue(slog.String("flow", id.flow.String()), slog.Any("token", id.tok))
}

// Calls returns how many token requests the Identity has made to the
// identity provider (each flow step counts one).
func (id *Identity) Calls() int64 {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.calls
}

// Token returns the cached token while it is fresh, else obtains one.
func (id *Identity) Token(ctx context.Context) (Token, error) {
	return id.get(ctx, false, "")
}

// Renew returns a token other than stale: one another caller already
// obtained, or a new one from the identity provider.
func (id *Identity) Renew(ctx context.Context, stale Token) (Token, error) {
	return id.get(ctx, true, stale.JWT)
}

// fresh reports whether the cached token can be used (id.mu held).
func (id *Identity) fresh(now time.Time) bool {
	if id.tok.JWT == "" {
		return false
	}
	if id.tok.Expiry.IsZero() {
		return true
	}
	margin := min(time.Minute, id.tok.Expiry.Sub(id.obtained)/5)
	return now.Add(margin).Before(id.tok.Expiry)
}

// get returns a usable token, obtaining one when needed; concurrent
// callers share one flight.
func (id *Identity) get(ctx context.Context, renew bool, stale string) (Token, error) {
	for {
		id.mu.Lock()
		if id.idp == nil {
			id.mu.Unlock()
			return Token{}, invalidf(ErrInvalidConfig, "the %s Identity has no IDP: pass it as Config.Token or call WithIDP", id.flow)
		}
		if (!renew && id.fresh(time.Now())) || (renew && id.tok.JWT != "" && id.tok.JWT != stale) {
			t := id.tok
			id.mu.Unlock()
			return t, nil
		}
		if f := id.flight; f != nil {
			id.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return Token{}, fmt.Errorf("lpwindow: waiting for a token: %w", ctx.Err())
			}
			if f.err == nil {
				return f.tok, nil
			}
			if (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) && ctx.Err() == nil {
				continue // the caller that ran it gave up; run our own
			}
			return Token{}, f.err
		}
		f := &identityFlight{done: make(chan struct{})}
		id.flight = f
		p, external, hadToken := *id.idp, id.external, id.tok.JWT != ""
		id.mu.Unlock()

		tok, ext, calls, err := id.obtain(ctx, &p, external, hadToken)

		id.mu.Lock()
		id.calls += calls
		id.flight = nil
		if err == nil {
			id.tok, id.obtained = tok, time.Now()
			if ext != "" {
				id.external = ext
			}
		}
		id.mu.Unlock()
		f.tok, f.err = tok, err
		close(f.done)
		if err != nil {
			return Token{}, err
		}
		if hadToken && id.flow == flowSignup && p.Logger != nil {
			p.Logger.Warn("lpwindow: signed up again: the consumer is new, its earlier conversations stay with the old one", "consumerId", tok.ConsumerID)
		}
		return tok, nil
	}
}

// obtain runs the flow once. It returns the token, the new external token
// (AnonymousFlow) and how many IDP calls it made.
func (id *Identity) obtain(ctx context.Context, p *IDP, external string, renewing bool) (Token, string, int64, error) {
	if err := checkAccount(p.Account); err != nil {
		return Token{}, "", 0, err
	}
	if err := checkHost(p.Host, p.Insecure); err != nil {
		return Token{}, "", 0, fmt.Errorf("%w (Domains.IDP)", err)
	}
	base := "/api/account/" + url.PathEscape(p.Account)
	var calls int64
	call := func(path, query string, body any, secrets ...string) (map[string]json.RawMessage, error) {
		calls++
		hc := p.HTTPClient
		if hc == nil {
			hc = http.DefaultClient
		}
		b, err := restCall{hc: hc, method: http.MethodPost, scheme: schemeFor(p.Insecure), host: p.Host, path: base + path,
			query: query, body: body, service: "idp", retry: p.Retry, secrets: secrets, log: p.Logger, maxBytes: 64 << 10}.do(ctx)
		var he *HTTPError
		if errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 && he.StatusCode != http.StatusTooManyRequests {
			return nil, fmt.Errorf("%w: %w", ErrIdentityRefused, err)
		}
		if err != nil {
			return nil, err
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("lpwindow: idp %s: undecodable answer", path)
		}
		return out, nil
	}
	field := func(m map[string]json.RawMessage, names ...string) string {
		for _, n := range names {
			if s, ok := wire.String(m[n]); ok && s != "" {
				return s
			}
		}
		return ""
	}
	var lpJWT, newExternal string
	switch id.flow {
	case flowSignup:
		m, err := call("/signup", "", nil)
		if err != nil {
			return Token{}, "", calls, err
		}
		lpJWT = field(m, "jwt", "token") // documented "jwt"; "token" accepted as the ACR0 flow names it
	case flowImplicit, flowCode:
		if id.callback == nil {
			return Token{}, "", calls, invalidf(ErrInvalidConfig, "the %s flow needs a callback", id.flow)
		}
		code, err := id.callback(ctx)
		if err != nil {
			return Token{}, "", calls, fmt.Errorf("lpwindow: the app's %s-flow callback: %w", id.flow, err)
		}
		if code == "" {
			return Token{}, "", calls, fmt.Errorf("%w: the app's %s-flow callback returned nothing", ErrIdentityRefused, id.flow)
		}
		m, err := call("/authenticate", "", map[string]string{"authCode": code}, code)
		if err != nil {
			return Token{}, "", calls, err
		}
		lpJWT = field(m, "jwt", "token")
	case flowAnonymous:
		if id.connector == "" || strings.ContainsAny(id.connector, "/?#% ") {
			return Token{}, "", calls, invalidf(ErrInvalidConfig, "AnonymousFlow needs a connector id")
		}
		var body any
		if renewing && external != "" {
			body = map[string]string{"id_token": external} // refresh, same identity
		}
		m, err := call("/anonymous/authorize", "", body, external)
		if err != nil {
			return Token{}, "", calls, err
		}
		if newExternal = field(m, "token", "id_token", "jwt"); newExternal == "" {
			return Token{}, "", calls, fmt.Errorf("lpwindow: idp anonymous/authorize answered without a token")
		}
		m, err = call("/app/"+url.PathEscape(id.connector)+"/authenticate", "v=3.0", map[string]string{"id_token": newExternal}, newExternal)
		if err != nil {
			return Token{}, "", calls, err
		}
		lpJWT = field(m, "token", "jwt") // documented "token" here
	}
	if lpJWT == "" {
		return Token{}, "", calls, fmt.Errorf("lpwindow: the idp answered without a token (%s flow)", id.flow)
	}
	tok, err := ParseToken(lpJWT)
	if err != nil {
		return Token{}, "", calls, fmt.Errorf("lpwindow: the idp answered with a token that is not a JWT (%s flow)", id.flow)
	}
	return tok, newExternal, calls, nil
}
