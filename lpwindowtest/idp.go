package lpwindowtest

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// LivePersonIssuer is the iss of the consumer JWTs the server issues, as in
// LivePerson's own tokens (reference §3.4).
const LivePersonIssuer = "https://idp.liveperson.net"

// ExternalIdentity is a brand's consumer identity, as an id_token carries it
// (reference §3.2).
type ExternalIdentity struct {
	Sub string // the brand's consumer id; required
	Iss string // the brand's issuer; required
}

// idp is the fake identity provider (reference §3).
type idp struct {
	s     *Server
	mu    sync.Mutex
	brand map[string]*rsa.PublicKey   // brand issuer -> key for implicit-flow id_tokens
	codes map[string]ExternalIdentity // code-flow codes, single use
	jtis  map[string][]string         // consumer id -> ids of tokens issued to it
	dead  map[string]bool             // revoked token ids
	calls atomic.Int64
}

func newIDP(s *Server) *idp {
	return &idp{s: s, brand: map[string]*rsa.PublicKey{}, codes: map[string]ExternalIdentity{}, jtis: map[string][]string{}, dead: map[string]bool{}}
}

// RegisterBrandKey makes the implicit flow accept id_tokens from issuer
// signed (RS256) by the matching private key, as the account's
// "Authentication Server" connector would.
func (s *Server) RegisterBrandKey(issuer string, key *rsa.PublicKey) {
	s.idp.mu.Lock()
	defer s.idp.mu.Unlock()
	s.idp.brand[issuer] = key
}

// RegisterAuthCode makes the code flow accept code once, for id, as if the
// brand's token endpoint had exchanged it.
func (s *Server) RegisterAuthCode(code string, id ExternalIdentity) {
	s.idp.mu.Lock()
	defer s.idp.mu.Unlock()
	s.idp.codes[code] = id
}

// IDPCalls returns how many identity requests the server has answered.
func (s *Server) IDPCalls() int64 { return s.idp.calls.Load() }

// IssueToken returns an unauthenticated consumer JWT for a new consumer,
// without an HTTP call, and the consumer's id.
func (s *Server) IssueToken() (jwt, consumerID string, err error) {
	consumerID = newID()
	jwt, err = s.idp.issue(consumerID, nil)
	return jwt, consumerID, err
}

// lpClaims are the claims of a LivePerson consumer JWT.
type lpClaims struct {
	jwt.RegisteredClaims
	Ext *lpExt `json:"lp.ext,omitempty"`
}

type lpExt struct {
	Sub    string `json:"sub"`
	Iss    string `json:"iss"`
	LPSDEs string `json:"lp_sdes,omitempty"`
}

func (p *idp) issue(consumerID string, ext *lpExt) (string, error) {
	now := time.Now()
	jti := newID()
	c := lpClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: consumerID, Audience: jwt.ClaimStrings{"acc:" + p.s.opts.Account}, Issuer: LivePersonIssuer,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(p.s.opts.TokenLifetime)), ID: jti,
		},
		Ext: ext,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = "00001"
	signed, err := t.SignedString(p.s.key)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.jtis[consumerID] = append(p.jtis[consumerID], jti)
	p.mu.Unlock()
	return signed, nil
}

// verify checks a consumer JWT (signature, account, expiry, revocation).
func (p *idp) verify(token string) (*lpClaims, error) {
	var c lpClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return &p.s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience("acc:"+p.s.opts.Account), jwt.WithIssuer(LivePersonIssuer), jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	dead := p.dead[c.ID]
	p.mu.Unlock()
	if dead {
		return nil, jwt.ErrTokenExpired
	}
	return &c, nil
}

// revoke makes every token issued so far to consumerID invalid.
func (p *idp) revoke(consumerID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, j := range p.jtis[consumerID] {
		p.dead[j] = true
	}
}

// signup: POST /api/account/{a}/signup -> {"jwt"} (reference §3.1).
func (p *idp) signup(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	if !p.s.knownAccount(w, r) {
		return
	}
	tok, err := p.issue(newID(), nil)
	if err != nil {
		errorJSON(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"jwt": tok})
}

// signupJSONP: GET /api/account/{a}/signup.jsonp?callback=NAME.
func (p *idp) signupJSONP(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	if !p.s.knownAccount(w, r) {
		return
	}
	cb := r.URL.Query().Get("callback")
	if !jsonpName.MatchString(cb) {
		errorJSON(w, http.StatusBadRequest, "callback must be a JavaScript identifier")
		return
	}
	tok, err := p.issue(newID(), nil)
	if err != nil {
		errorJSON(w, http.StatusInternalServerError, err.Error())
		return
	}
	body, _ := json.Marshal(map[string]string{"jwt": tok})
	w.Header().Set("Content-Type", "application/javascript")
	fmt.Fprintf(w, "%s(%s);", cb, body)
}

func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return io.EOF
	}
	return json.Unmarshal(b, v)
}

// authenticate: POST /api/account/{a}/authenticate {"authCode"} -> {"jwt"}
// (reference §3.2). An authCode that parses as a JWT is the implicit flow
// (a brand id_token); anything else is a code-flow code.
func (p *idp) authenticate(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	if !p.s.knownAccount(w, r) {
		return
	}
	var body struct {
		AuthCode string `json:"authCode"`
	}
	if err := readJSON(r, &body); err != nil || body.AuthCode == "" {
		errorJSON(w, http.StatusBadRequest, "body must be {\"authCode\": \"...\"}")
		return
	}
	id, err := p.externalIdentity(body.AuthCode)
	if err != nil {
		errorJSON(w, http.StatusUnauthorized, err.Error())
		return
	}
	sum := sha256.Sum256([]byte(p.s.opts.Account + "|" + id.Iss + "|" + id.Sub))
	tok, err := p.issue(hex.EncodeToString(sum[:]), &lpExt{Sub: id.Sub, Iss: id.Iss})
	if err != nil {
		errorJSON(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"jwt": tok})
}

func (p *idp) externalIdentity(authCode string) (ExternalIdentity, error) {
	if _, _, err := jwt.NewParser().ParseUnverified(authCode, &jwt.RegisteredClaims{}); err != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		id, ok := p.codes[authCode]
		if !ok {
			return ExternalIdentity{}, errors.New("invalid_code")
		}
		delete(p.codes, authCode)
		return id, nil
	}
	var c jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(authCode, &c, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		p.mu.Lock()
		defer p.mu.Unlock()
		if k := p.brand[iss]; k != nil {
			return k, nil
		}
		return nil, errors.New("no key registered for this issuer")
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return ExternalIdentity{}, fmt.Errorf("id_token rejected: %w", err)
	}
	if c.Issuer == "" || c.Subject == "" || c.IssuedAt == nil {
		return ExternalIdentity{}, errors.New("id_token rejected: iss, sub and iat are required")
	}
	return ExternalIdentity{Sub: c.Subject, Iss: c.Issuer}, nil
}

// anonIssuer is the iss of the external unauthenticated (ACR0) tokens.
func (p *idp) anonIssuer() string { return "https://" + p.s.host + "/anonymous" }

// anonymousAuthorize: POST .../anonymous/authorize, no body -> {"token"};
// with {"id_token": previous} it refreshes within the refresh window, same
// identity (reference §3.3).
func (p *idp) anonymousAuthorize(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	if !p.s.knownAccount(w, r) {
		return
	}
	sub := newID()
	var body struct {
		IDToken string `json:"id_token"`
	}
	switch err := readJSON(r, &body); {
	case errors.Is(err, io.EOF):
	case err != nil:
		errorJSON(w, http.StatusBadRequest, "body must be empty or {\"id_token\": \"...\"}")
		return
	case body.IDToken != "":
		c, err := p.verifyAnon(body.IDToken, true)
		if err != nil {
			errorJSON(w, http.StatusUnauthorized, err.Error())
			return
		}
		sub = c.Subject
	}
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Subject: sub, Issuer: p.anonIssuer(), Audience: jwt.ClaimStrings{"acc:" + p.s.opts.Account},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(p.s.opts.ExternalTokenLifetime)),
	})
	signed, err := t.SignedString(p.s.key)
	if err != nil {
		errorJSON(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": signed})
}

// verifyAnon checks an external unauthenticated token; forRefresh accepts
// an expired one still inside the refresh window.
func (p *idp) verifyAnon(token string, forRefresh bool) (*jwt.RegisteredClaims, error) {
	var c jwt.RegisteredClaims
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(p.anonIssuer()), jwt.WithAudience("acc:" + p.s.opts.Account)}
	if forRefresh {
		opts = append(opts, jwt.WithoutClaimsValidation())
	}
	if _, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return &p.s.key.PublicKey, nil }, opts...); err != nil {
		return nil, fmt.Errorf("id_token rejected: %w", err)
	}
	if forRefresh && (c.IssuedAt == nil || time.Since(c.IssuedAt.Time) > p.s.opts.RefreshWindow) {
		return nil, errors.New("id_token rejected: past the refresh window")
	}
	return &c, nil
}

// appAuthenticate: POST .../app/{connector}/authenticate?v=3.0
// {"id_token"} -> {"token": LP JWT} (reference §3.3). The identity is
// unauthenticated: its token has no lp.ext and expiry closes with 4407.
func (p *idp) appAuthenticate(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	if !p.s.knownAccount(w, r) {
		return
	}
	if r.URL.Query().Get("v") != "3.0" {
		errorJSON(w, http.StatusBadRequest, "v=3.0 is required")
		return
	}
	var body struct {
		IDToken string `json:"id_token"`
	}
	if err := readJSON(r, &body); err != nil || body.IDToken == "" {
		errorJSON(w, http.StatusBadRequest, "body must be {\"id_token\": \"...\"}")
		return
	}
	c, err := p.verifyAnon(body.IDToken, false)
	if err != nil {
		errorJSON(w, http.StatusUnauthorized, err.Error())
		return
	}
	tok, err := p.issue(c.Subject, nil)
	if err != nil {
		errorJSON(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

func (p *idp) publicKeyPEM(w http.ResponseWriter, _ *http.Request) {
	der, err := x509.MarshalPKIXPublicKey(&p.s.key.PublicKey)
	if err != nil {
		errorJSON(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_ = pem.Encode(w, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
