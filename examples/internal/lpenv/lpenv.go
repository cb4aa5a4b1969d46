// Package lpenv gives the examples their Config: the embedded fake
// LivePerson by default, or LivePerson itself when LP_ACCOUNT is set (hosts
// from the Domain API; the consumer from LP_JWT, else the identity
// provider's unauthenticated signup, which the account must allow).
package lpenv

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

// Config returns the Config and a function that releases what it started.
// It says on out which LivePerson it uses.
func Config(_ context.Context, out io.Writer) (lpwindow.Config, func(), error) {
	account := os.Getenv("LP_ACCOUNT")
	if account == "" {
		srv, err := lpwindowtest.NewServer(lpwindowtest.Options{Bot: true})
		if err != nil {
			return lpwindow.Config{}, nil, err
		}
		fmt.Fprintf(out, "fake LivePerson on %s (account %s); set LP_ACCOUNT to use LivePerson itself\n", srv.Host(), srv.Account())
		// Sign up as a new unauthenticated consumer, as a demo would.
		return srv.Config(lpwindow.Signup()), srv.Close, nil
	}
	var token lpwindow.TokenSource = lpwindow.Signup()
	if jwt := os.Getenv("LP_JWT"); jwt != "" {
		ts, err := lpwindow.StaticToken(jwt)
		if err != nil {
			return lpwindow.Config{}, nil, err
		}
		token = ts
	}
	fmt.Fprintf(out, "LivePerson account %s (hosts from the Domain API)\n", account)
	// No Domains: Dial asks the Domain API for them.
	return lpwindow.Config{Account: account, Token: token}, func() {}, nil
}
