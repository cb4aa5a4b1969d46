package lpwindow

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
// connection attempt; it should return a cached token while it is valid.
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
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
