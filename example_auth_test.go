package lpwindow_test

import (
	"context"
	"fmt"
	"log"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

// A demo or a test: an unauthenticated consumer from the identity
// provider's signup. Without Domains, Dial asks the Domain API for the
// account's hosts.
func ExampleSignup() {
	c, err := lpwindow.Dial(context.Background(), lpwindow.Config{
		Account: "12345678",
		Token:   lpwindow.Signup(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

// An authenticated consumer whose brand signs id_tokens (implicit flow).
// The callback runs for the first token and whenever LivePerson needs a
// fresh one (before expiry, or when the server closes with 4401).
func ExampleImplicitFlow() {
	brandIDToken := func(ctx context.Context) (string, error) {
		return "<the brand's id_token for this customer, from its SSO>", nil
	}
	c, err := lpwindow.Dial(context.Background(), lpwindow.Config{
		Account: "12345678",
		Token:   lpwindow.ImplicitFlow(brandIDToken),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

// An authenticated consumer with an OAuth 2.0 code flow: each token needs a
// new single-use code from the brand.
func ExampleCodeFlow() {
	newCode := func(ctx context.Context) (string, error) {
		return "<a fresh authorization code from the brand>", nil
	}
	c, err := lpwindow.Dial(context.Background(), lpwindow.Config{
		Account: "12345678",
		Token:   lpwindow.CodeFlow(newCode),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

// An anonymous consumer the brand controls through an ACR0 connector; on
// 4407 the identity is extended, keeping the consumer.
func ExampleAnonymousFlow() {
	c, err := lpwindow.Dial(context.Background(), lpwindow.Config{
		Account: "12345678",
		Token:   lpwindow.AnonymousFlow("<ACR0 connector id>"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

// An Identity used outside a Conn, against the fake LivePerson.
func ExampleIdentity_Token() {
	srv, err := lpwindowtest.NewServer(lpwindowtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id := lpwindow.AnonymousFlow("acr0").WithIDP(lpwindow.IDP{
		Account: srv.Account(), Host: srv.Host(), Insecure: true,
	})
	ctx := context.Background()
	tok, err := id.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	renewed, err := id.Renew(ctx, tok) // as after a 4407
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same consumer:", tok.ConsumerID == renewed.ConsumerID)
	fmt.Println("identity provider calls:", id.Calls())
	// Output:
	// same consumer: true
	// identity provider calls: 4
}

// Hosts resolved once per account and shared by many Conns (a load test
// with thousands of visitors asks the Domain API once).
func ExampleDomainResolver() {
	resolver := &lpwindow.DomainResolver{} // production Domain API, 1 h cache
	for range 1000 {
		c, err := lpwindow.Dial(context.Background(), lpwindow.Config{
			Account: "12345678", Token: lpwindow.Signup(), DomainResolver: resolver,
		})
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
	}
}
