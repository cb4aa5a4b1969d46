// Package lpenv gives the examples their Config: the embedded fake
// LivePerson by default, or LivePerson itself when LP_ACCOUNT is set (hosts
// from the Domain API; the consumer from LP_JWT or the identity provider's
// unauthenticated signup, which the account must allow).
package lpenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

// Config returns the Config and a function that releases what it started.
// It says on out which LivePerson it uses.
func Config(ctx context.Context, out io.Writer) (lpwindow.Config, func(), error) {
	account := os.Getenv("LP_ACCOUNT")
	if account == "" {
		srv, err := lpwindowtest.NewServer(lpwindowtest.Options{Bot: true})
		if err != nil {
			return lpwindow.Config{}, nil, err
		}
		fmt.Fprintf(out, "fake LivePerson on %s (account %s); set LP_ACCOUNT to use LivePerson itself\n", srv.Host(), srv.Account())
		// Sign up as a new unauthenticated consumer, as a demo would.
		jwt, err := signup(ctx, srv.HTTPClient(), srv.URL(), srv.Account())
		if err != nil {
			srv.Close()
			return lpwindow.Config{}, nil, err
		}
		ts, err := lpwindow.StaticToken(jwt)
		if err != nil {
			srv.Close()
			return lpwindow.Config{}, nil, err
		}
		return srv.Config(ts), srv.Close, nil
	}
	asyncHost, err := domain(ctx, account, "asyncMessagingEnt")
	if err != nil {
		return lpwindow.Config{}, nil, err
	}
	jwt := os.Getenv("LP_JWT")
	if jwt == "" {
		idp, err := domain(ctx, account, "idp")
		if err != nil {
			return lpwindow.Config{}, nil, err
		}
		if jwt, err = signup(ctx, http.DefaultClient, "https://"+idp, account); err != nil {
			return lpwindow.Config{}, nil, err
		}
	}
	ts, err := lpwindow.StaticToken(jwt)
	if err != nil {
		return lpwindow.Config{}, nil, err
	}
	fmt.Fprintf(out, "LivePerson account %s via %s\n", account, asyncHost)
	return lpwindow.Config{Account: account, Domains: lpwindow.Domains{AsyncMessagingEnt: asyncHost}, Token: ts}, func() {}, nil
}

func signup(ctx context.Context, hc *http.Client, base, account string) (string, error) {
	var b struct {
		JWT string `json:"jwt"`
	}
	err := postJSON(ctx, hc, base+"/api/account/"+account+"/signup", &b)
	return b.JWT, err
}

// domain asks the Domain API for one service's host (reference §2).
func domain(ctx context.Context, account, service string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"https://api.liveperson.net/api/account/"+account+"/service/"+service+"/baseURI.json?version=1.0", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b struct {
		BaseURI  string `json:"baseURI"`
		BaseURIs []struct {
			Service, BaseURI string
		} `json:"baseURIs"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("domain API: HTTP %d for %s", resp.StatusCode, service)
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		return "", err
	}
	for _, u := range b.BaseURIs { // the list form; a bare object otherwise
		if u.Service == service {
			return u.BaseURI, nil
		}
	}
	if b.BaseURI == "" {
		return "", fmt.Errorf("domain API: no %s host", service)
	}
	return b.BaseURI, nil
}

func postJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("signup: HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
