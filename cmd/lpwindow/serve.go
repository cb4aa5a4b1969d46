package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/lpwindow/lpwindow/lpwindowtest"
)

func serve(args []string, stdout, stderr io.Writer, stop <-chan struct{}) int {
	fs := flag.NewFlagSet("lpwindow serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback only)")
	useTLS := fs.Bool("tls", false, "serve https/wss with a generated self-signed certificate")
	account := fs.String("account", "12345678", "the account id to serve")
	bot := fs.Bool("bot", true, "a bot joins every new conversation and echoes")
	survey := fs.String("survey", "", "post-conversation survey questions, separated by '|' (each answered 1-5)")
	verbose := fs.Bool("v", false, "log requests and connections")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	s, err := lpwindowtest.NewServer(lpwindowtest.Options{Addr: *addr, TLS: *useTLS, Account: *account, Bot: *bot, Logger: logger})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer s.Close()
	if *survey != "" {
		var qs []lpwindowtest.SurveyQuestion
		for i, q := range strings.Split(*survey, "|") {
			qs = append(qs, lpwindowtest.SurveyQuestion{ID: fmt.Sprintf("q%d", i+1), Text: q, Answers: []string{"1", "2", "3", "4", "5"}})
		}
		s.EnableSurvey(qs...)
	}
	token, consumer, err := s.IssueToken()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ws := "ws"
	if *useTLS {
		ws = "wss"
	}
	a := s.Account()
	fmt.Fprintf(stdout, `lpwindow serve: a fake LivePerson for account %s on %s

  Domain API   %s/api/account/%s/service/asyncMessagingEnt/baseURI.json?version=1.0
  sign up      curl -X POST %s/api/account/%s/signup
  websocket    %s://%s/ws_api/account/%s/messaging/consumer?v=3
  public key   %s/idp/public-key.pem

A token for consumer %s (send it as "Authorization: jwt <token>"):

%s

Stop with Ctrl-C.
`, a, s.Host(), s.URL(), a, s.URL(), a, ws, s.Host(), a, s.URL(), consumer, token)
	if *useTLS {
		fmt.Fprintln(stdout, "TLS uses a self-signed certificate: use curl -k, wscat --no-check.")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case got := <-sig:
		fmt.Fprintf(stdout, "\n%v: shutting down\n", got)
	case <-stop:
	}
	return 0
}
