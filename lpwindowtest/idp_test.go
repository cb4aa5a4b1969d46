package lpwindowtest_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

func brandToken(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	require.NoError(t, err)
	return tok
}

func TestAuthenticateImplicitFlow(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	brand, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	s.RegisterBrandKey("https://brand.example", &brand.PublicKey)
	path := "/api/account/" + s.Account() + "/authenticate"
	now := time.Now()
	good := jwt.MapClaims{"iss": "https://brand.example", "sub": "customer-42", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}

	code, body := post(t, s, path, `{"authCode":"`+brandToken(t, brand, good)+`"}`)
	require.Equal(t, 200, code)
	claims := parseLP(t, s, body["jwt"])
	ext, ok := claims["lp.ext"].(map[string]any)
	require.True(t, ok, "an authenticated token carries lp.ext")
	assert.Equal(t, "customer-42", ext["sub"])
	assert.Equal(t, "https://brand.example", ext["iss"])
	assert.Len(t, claims["sub"], 64, "authenticated consumer ids are 64-hex hashes")

	// The same brand identity gets the same consumer id (continuity).
	_, again := post(t, s, path, `{"authCode":"`+brandToken(t, brand, good)+`"}`)
	assert.Equal(t, claims["sub"], parseLP(t, s, again["jwt"])["sub"])

	bad := map[string]string{
		"expired":         brandToken(t, brand, jwt.MapClaims{"iss": "https://brand.example", "sub": "c", "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}),
		"wrong signature": brandToken(t, other, good),
		"unknown issuer":  brandToken(t, brand, jwt.MapClaims{"iss": "https://evil.example", "sub": "c", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}),
		"no sub":          brandToken(t, brand, jwt.MapClaims{"iss": "https://brand.example", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}),
		"no exp":          brandToken(t, brand, jwt.MapClaims{"iss": "https://brand.example", "sub": "c", "iat": now.Unix()}),
	}
	for name, tok := range bad {
		code, _ := post(t, s, path, `{"authCode":"`+tok+`"}`)
		assert.Equal(t, 401, code, name)
	}
	code, _ = post(t, s, path, `{}`)
	assert.Equal(t, 400, code)
	code, _ = post(t, s, "/api/account/other/authenticate", `{"authCode":"`+brandToken(t, brand, good)+`"}`)
	assert.Equal(t, 401, code, "wrong account")
}

func TestAuthenticateCodeFlow(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	s.RegisterAuthCode("code-1", lpwindowtest.ExternalIdentity{Sub: "customer-7", Iss: "https://brand.example"})
	path := "/api/account/" + s.Account() + "/authenticate"
	code, body := post(t, s, path, `{"authCode":"code-1"}`)
	require.Equal(t, 200, code)
	ext := parseLP(t, s, body["jwt"])["lp.ext"].(map[string]any)
	assert.Equal(t, "customer-7", ext["sub"])
	code, _ = post(t, s, path, `{"authCode":"code-1"}`)
	assert.Equal(t, 401, code, "a code works once")
	code, _ = post(t, s, path, `{"authCode":"never-registered"}`)
	assert.Equal(t, 401, code)
}

func TestAnonymousACR0Flow(t *testing.T) {
	// 2 s: exp has whole seconds, so a fresh token has 1 to 2 s to live.
	s := newServer(t, lpwindowtest.Options{ExternalTokenLifetime: 2 * time.Second})
	a := "/api/account/" + s.Account()
	code, body := post(t, s, a+"/anonymous/authorize", "")
	require.Equal(t, 200, code)
	ext := body["token"]
	require.NotEmpty(t, ext, "the field is token, not jwt")

	code, body = post(t, s, a+"/app/connector-1/authenticate?v=3.0", `{"id_token":"`+ext+`"}`)
	require.Equal(t, 200, code)
	lp := body["token"]
	claims := parseLP(t, s, lp)
	assert.Nil(t, claims["lp.ext"])
	code, _ = post(t, s, a+"/app/connector-1/authenticate", `{"id_token":"`+ext+`"}`)
	assert.Equal(t, 400, code, "v=3.0 is required")

	// Refresh keeps the identity, even after the external token expired.
	time.Sleep(2100 * time.Millisecond)
	code, _ = post(t, s, a+"/app/connector-1/authenticate?v=3.0", `{"id_token":"`+ext+`"}`)
	assert.Equal(t, 401, code, "an expired external token cannot be exchanged")
	code, body = post(t, s, a+"/anonymous/authorize", `{"id_token":"`+ext+`"}`)
	require.Equal(t, 200, code)
	code, body = post(t, s, a+"/app/connector-1/authenticate?v=3.0", `{"id_token":"`+body["token"]+`"}`)
	require.Equal(t, 200, code)
	assert.Equal(t, claims["sub"], parseLP(t, s, body["token"])["sub"])

	code, _ = post(t, s, a+"/anonymous/authorize", `{"id_token":"garbage"}`)
	assert.Equal(t, 401, code)
	connectWith(t, s, lp, lpwindow.AuthInitConnection)
}

func TestWebsocketRejectsBadTokens(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	other := newServer(t, lpwindowtest.Options{})
	foreign, _, err := other.IssueToken() // signed by another key
	require.NoError(t, err)
	ts, err := lpwindow.StaticToken(foreign)
	require.NoError(t, err)
	for _, mode := range []lpwindow.AuthMode{lpwindow.AuthHeaders, lpwindow.AuthInitConnection} {
		cfg := s.Config(ts)
		cfg.Auth = mode
		_, err := lpwindow.Dial(ctxT(t), cfg)
		assert.ErrorIs(t, err, lpwindow.ErrUnauthorized, mode.String())
	}
}

func TestWebsocketChecksTheAccount(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	a := newServer(t, lpwindowtest.Options{Account: "111", SigningKey: key})
	b := newServer(t, lpwindowtest.Options{Account: "222", SigningKey: key})
	tokA, _, err := a.IssueToken()
	require.NoError(t, err)
	ts, err := lpwindow.StaticToken(tokA)
	require.NoError(t, err)
	cfg := b.Config(ts) // the right signature, the wrong account (aud)
	_, err = lpwindow.Dial(ctxT(t), cfg)
	assert.ErrorIs(t, err, lpwindow.ErrUnauthorized)
	connectWith(t, a, tokA, lpwindow.AuthHeaders) // and the right one works
}

func TestTokenExpiryClosesWith4401And4407(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{TokenLifetime: 1500 * time.Millisecond})
	// Unauthenticated (signup): 4407.
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	// Authenticated (code flow): 4401.
	s.RegisterAuthCode("c", lpwindowtest.ExternalIdentity{Sub: "x", Iss: "https://brand.example"})
	_, body := post(t, s, "/api/account/"+s.Account()+"/authenticate", `{"authCode":"c"}`)
	ka := connectWith(t, s, body["jwt"], lpwindow.AuthInitConnection)
	for _, tc := range []struct {
		k    *consumer
		want error
	}{{k, lpwindow.ErrIdentityExpired}, {ka, lpwindow.ErrTokenExpired}} {
		require.Eventually(t, func() bool { return tc.k.c.State() == lpwindow.StateFailed }, 5*time.Second, 10*time.Millisecond)
		err := tc.k.reqErr("GetClock", nil)
		assert.ErrorIs(t, err, tc.want)
	}
}

func TestExpireTokensNow(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	jwtText, id, err := s.IssueToken()
	require.NoError(t, err)
	k := connectWith(t, s, jwtText, lpwindow.AuthHeaders)
	s.ExpireTokens(id)
	require.Eventually(t, func() bool { return k.c.State() == lpwindow.StateFailed }, 5*time.Second, 10*time.Millisecond)
	assert.ErrorIs(t, k.reqErr("GetClock", nil), lpwindow.ErrIdentityExpired)
	ts, _ := lpwindow.StaticToken(jwtText)
	_, err = lpwindow.Dial(ctxT(t), s.Config(ts))
	assert.True(t, errors.Is(err, lpwindow.ErrUnauthorized), "an expired token is refused: %v", err)
}
